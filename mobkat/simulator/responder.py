"""One realtime response: ask the brain, then stream its answer as OpenAI does (audio, text or tool call)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from openai import BaseModel as SdkModel
from openai.types.realtime import RealtimeResponse, RealtimeResponseStatus, RealtimeResponseUsage
from openai.types.realtime.realtime_audio_formats import AudioPCM
from openai.types.realtime.realtime_response import Audio, AudioOutput
from openai.types.realtime.realtime_response_usage_input_token_details import (
    RealtimeResponseUsageInputTokenDetails,
)
from openai.types.realtime.realtime_response_usage_output_token_details import (
    RealtimeResponseUsageOutputTokenDetails,
)

from mobkat.audio import bytes_for_ms, duration_ms, ms_for_chars
from mobkat.simulator.brain import BrainMessage, Reply, TextReply, think
from mobkat.simulator.conversation import Conversation, Item, Part
from mobkat.simulator.events import EventFactory, Where, item_model
from mobkat.simulator.real_speech import say, wants_real_voice
from mobkat.simulator.script import SimulatorScript

AUDIO_CHUNK_MS = 100
PCM = AudioPCM(type="audio/pcm", rate=24000)
ARGUMENT_CHUNK_CHARS = 24
CancelReason = Literal["client_cancelled", "turn_detected"]
Modality = Literal["text", "audio"]


class ResponseHost(Protocol):
    """What a response needs from its connection."""

    events: EventFactory
    conversation: Conversation

    def new_id(self, kind: str) -> str: ...

    @property
    def script(self) -> SimulatorScript: ...

    async def send(self, event: SdkModel) -> None: ...


@dataclass
class ResponseRequest:
    """A ``response.create`` resolved against the session: what to produce and from what."""

    modalities: list[Modality]
    offered_tools: list[str]
    voice: str = "marin"
    in_conversation: bool = True
    input_items: list[Item] | None = None
    metadata: dict[str, str] | None = None
    conversation_id: str | None = None


def _tokens(text: str) -> int:
    return len(text) // 4 + 1 if text else 0


@dataclass
class _Output:
    items: list[Item] = field(default_factory=list)
    text_tokens: int = 0
    audio_tokens: int = 0


class ResponseRun:
    """Streams one response; :meth:`cancel` stops it between deltas (``response.done`` cancelled)."""

    def __init__(self, host: ResponseHost, request: ResponseRequest) -> None:
        self.host = host
        self.request = request
        self.id = host.new_id("resp")
        self.finished = asyncio.Event()
        self._cancel = asyncio.Event()
        self._cancel_reason: CancelReason | None = None
        self._output = _Output()
        self._context: list[BrainMessage] = []

    @property
    def active(self) -> bool:
        return not self.finished.is_set()

    async def cancel(self, reason: CancelReason) -> None:
        """Ask the response to stop and wait until its ``response.done`` went out."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._cancel.set()
        await self.finished.wait()

    async def run(self) -> None:
        try:
            await self.host.send(self.host.events.response_created(self._response("in_progress")))
            if self.request.input_items is not None:
                scratch = Conversation()
                for item in self.request.input_items:
                    scratch.insert(item)
                self._context = scratch.brain_messages()
            else:
                self._context = self.host.conversation.brain_messages()
            script = self.host.script
            reply: Reply = think(self._context, self.request.offered_tools, list(script.tool_rules), voice=True)
            if self._cancel.is_set():
                pass  # cancelled before any output: response.done with an empty output
            elif isinstance(reply, TextReply):
                await self._message(reply.text)
            else:
                await self._function_call(reply.tool, reply.arguments)
            status: Literal["completed", "cancelled"] = "cancelled" if self._cancel_reason else "completed"
            await self.host.send(self.host.events.response_done(self._response(status)))
        finally:
            self.finished.set()

    async def _pause(self, seconds: float) -> None:
        if seconds > 0 and not self._cancel.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._cancel.wait(), timeout=seconds)

    async def _add_item(self, item: Item, output_index: int) -> str | None:
        previous = self.host.conversation.insert(item) if self.request.in_conversation else None
        await self.host.send(self.host.events.output_item_added(self.id, output_index, item))
        if self.request.in_conversation:
            await self.host.send(self.host.events.item_added(item, previous))
        return previous

    async def _finish_item(self, item: Item, output_index: int, previous: str | None) -> None:
        await self.host.send(self.host.events.output_item_done(self.id, output_index, item))
        if self.request.in_conversation:
            await self.host.send(self.host.events.item_done(item, previous))
        self._output.items.append(item)

    async def _message(self, text: str) -> None:
        audio = "audio" in self.request.modalities
        item = Item(id=self.host.new_id("item"), type="message", role="assistant", status="in_progress")
        previous = await self._add_item(item, 0)
        part = Part(type="output_audio", transcript="") if audio else Part(type="output_text", text="")
        item.parts.append(part)
        where = Where(self.id, item.id, 0, 0)
        events = self.host.events
        await self.host.send(events.content_part_added(where, part))
        if audio:
            await self._stream_audio(text, part, where)
            await self.host.send(events.audio_done(where))
            await self.host.send(events.transcript_done(where, part.transcript or ""))
        else:
            await self._stream_text(text, part, where)
            await self.host.send(events.text_done(where, part.text or ""))
        await self.host.send(events.content_part_done(where, part))
        item.status = "incomplete" if self._cancel.is_set() else "completed"
        await self._finish_item(item, 0, previous)

    async def _stream_audio(self, text: str, part: Part, where: Where) -> None:
        gaps = self.host.script.speech.word_gaps_ms
        speech, real = await say(text, gaps, wants_real_voice(self.host.script, self.host.conversation))
        pcm = speech.pcm
        if gaps or real:  # uneven timing: keep the timeline for truncation (codec: 20 ms per byte, no need)
            part.ends_ms = speech.ends_ms
        step = bytes_for_ms(AUDIO_CHUNK_MS)
        in_flight = self.host.script.speech.cancel_lag_chunks  # chunks still sent after a cancel
        for offset in range(0, len(pcm), step):
            if offset:
                await self._pause(self.host.script.pace * AUDIO_CHUNK_MS / 1000)
            if self._cancel.is_set():
                if in_flight <= 0:
                    break
                in_flight -= 1
            chunk = pcm[offset : offset + step]
            spoken_ms = duration_ms(pcm[: offset + len(chunk)])
            await self.host.send(self.host.events.audio_delta(where, base64.b64encode(chunk).decode("ascii")))
            part.audio_ms = spoken_ms
            said = speech.said_by(spoken_ms)
            delta = said[len(part.transcript or "") :]
            if delta:
                await self.host.send(self.host.events.transcript_delta(where, delta))
                part.transcript = said
        self._output.audio_tokens += part.audio_ms // 50
        self._output.text_tokens += _tokens(part.transcript or "")

    async def _stream_text(self, text: str, part: Part, where: Where) -> None:
        for index, word in enumerate(re.findall(r"\S+\s*|\s+", text)):
            if index:
                await self._pause(self.host.script.pace * ms_for_chars(len(word.encode())) / 1000)
            if self._cancel.is_set():
                break
            await self.host.send(self.host.events.text_delta(where, word))
            part.text = (part.text or "") + word
        self._output.text_tokens += _tokens(part.text or "")

    async def _function_call(self, name: str, arguments: dict[str, Any]) -> None:
        item = Item(
            id=self.host.new_id("item"),
            type="function_call",
            status="in_progress",
            call_id=self.host.new_id("call"),
            name=name,
        )
        previous = await self._add_item(item, 0)
        call_id = item.call_id or ""
        encoded = json.dumps(arguments)
        for offset in range(0, len(encoded), ARGUMENT_CHUNK_CHARS):
            if self._cancel.is_set():
                break
            delta = encoded[offset : offset + ARGUMENT_CHUNK_CHARS]
            await self.host.send(self.host.events.arguments_delta(self.id, item.id, 0, call_id, delta))
            item.arguments += delta
        if not self._cancel.is_set():
            await self.host.send(self.host.events.arguments_done(self.id, item.id, 0, call_id, name, item.arguments))
        item.status = "incomplete" if self._cancel.is_set() else "completed"
        self._output.text_tokens += _tokens(item.arguments)
        await self._finish_item(item, 0, previous)

    def _response(self, status: Literal["in_progress", "completed", "cancelled"]) -> RealtimeResponse:
        details = (
            RealtimeResponseStatus(type="cancelled", reason=self._cancel_reason) if status == "cancelled" else None
        )
        usage = self._usage() if status != "in_progress" else None
        return RealtimeResponse(
            id=self.id,
            object="realtime.response",
            status=status,
            status_details=details,
            output=[item_model(item) for item in self._output.items],
            conversation_id=self.request.conversation_id if self.request.in_conversation else None,
            output_modalities=list(self.request.modalities),
            max_output_tokens="inf",
            audio=Audio(output=AudioOutput(format=PCM, voice=self.request.voice)),
            usage=usage,
            metadata=self.request.metadata,
        )

    def _usage(self) -> RealtimeResponseUsage:
        text_in = sum(_tokens(m.text) for m in self._context)
        out = self._output
        return RealtimeResponseUsage(
            input_tokens=text_in,
            output_tokens=out.text_tokens + out.audio_tokens,
            total_tokens=text_in + out.text_tokens + out.audio_tokens,
            input_token_details=RealtimeResponseUsageInputTokenDetails(
                text_tokens=text_in, audio_tokens=0, cached_tokens=0
            ),
            output_token_details=RealtimeResponseUsageOutputTokenDetails(
                text_tokens=out.text_tokens, audio_tokens=out.audio_tokens
            ),
        )
