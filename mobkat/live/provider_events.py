"""Provider events of a live channel: the pump, and each server event → observations and staged turn rows.

The pump iterates the adapter's parsed server events and dispatches each through ``_HANDLERS``; a dropped
socket hands over to :meth:`~mobkat.live.reconnect.ReconnectMixin._reconnect`. A finished response is
handed to the turn boundary (``_pend``), which commits it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from mobkat.history import StopReason, Usage
from mobkat.live.reconnect import ReconnectMixin
from mobkat.live.staging import UNTRANSCRIBED
from mobkat.live.wire import (
    AssistantAudioChunk,
    AssistantTextDelta,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    AssistantTranscriptTruncated,
    CommandRejected,
    ErrorCode,
    ToolCallRequested,
    TurnInterrupted,
    UserTranscriptFinal,
)

log = logging.getLogger("mobkat.live.channel")  # one logger for the whole channel

_STOP_BY_STATUS: dict[str, StopReason] = {"completed": "end_turn", "incomplete": "max_tokens",
                                          "cancelled": "cancelled", "failed": "end_turn"}


class ProviderEventsMixin(ReconnectMixin):
    """Maps the provider's server events onto the channel's observations and its turn stager."""

    async def _run_pump(self) -> None:
        while True:
            adapter = self._adapter
            if adapter is None:
                return
            reason = "provider closed the connection"
            try:
                async for event in adapter.events():
                    try:
                        self._handle(event)
                    except Exception:  # a mapping bug must not kill the channel
                        log.exception("%s: failed to handle provider event %s", self._where, event.type)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if adapter.closing or self._state.name in ("closing", "closed"):
                return
            if not await self._reconnect(reason):
                return

    def _handle(self, event: Any) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)

    def _on_response_created(self, event: Any) -> None:
        self._flush_pending()
        response_id = event.response.id
        self._active_response = response_id
        self._response_requested = False
        self._stager.seal_inputs()
        self._stager.response(response_id)
        if self._cancel_next and self._adapter is not None:
            self._cancel_next = False
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
            self._spawn(self._adapter.cancel_response())

    def _on_text_delta(self, event: Any) -> None:
        self._stager.add_display(event.response_id, event.item_id, event.delta)
        self._emit(AssistantTextDelta(delta=event.delta, provider_item_id=event.item_id,
                                      content_index=event.content_index, response_id=event.response_id))

    def _on_transcript_delta(self, event: Any) -> None:
        if self._stager.add_spoken(event.response_id, event.item_id, event.delta):
            self._emit(AssistantTranscriptDelta(delta=event.delta, provider_item_id=event.item_id,
                                                content_index=event.content_index, response_id=event.response_id))
        self._settle_truncations()  # the transcript may now cover what the caller played

    def _on_audio_delta(self, event: Any) -> None:
        size = len(event.delta) * 3 // 4 - event.delta[-2:].count("=")
        if self._stager.add_audio(event.response_id, event.item_id, size / 48.0):
            self._emit(AssistantAudioChunk(data=event.delta, response_id=event.response_id, item_id=event.item_id,
                                           content_index=event.content_index))

    def _on_transcript_done(self, event: Any) -> None:
        if self._stager.finish_spoken(event.response_id, event.item_id, event.transcript):
            self._emit(AssistantTranscriptFinal(provider_item_id=event.item_id, text=event.transcript,
                                                content_index=event.content_index, response_id=event.response_id))
        self._settle_truncations()

    def _on_function_call(self, event: Any) -> None:
        try:
            args = json.loads(event.arguments or "{}")
        except json.JSONDecodeError:
            args = {"_raw": event.arguments}
        self._emit(ToolCallRequested(provider_call_id=event.call_id, tool_name=event.name,
                                     arguments=args if isinstance(args, dict) else {"_raw": args}))
        arguments = args if isinstance(args, dict) else {"_raw": args}
        self._stager.add_tool_call(event.response_id, event.call_id, event.name, arguments)
        task = self._spawn(self._run_tool(event.response_id, event.call_id, event.name, event.arguments))
        self._tool_tasks.setdefault(event.response_id, []).append(task)

    async def _run_tool(self, response_id: str, call_id: str, name: str, arguments: str) -> None:
        outcome = await self.session.tools.call(name, arguments, timeout=self.tool_timeout_s)
        self._stager.add_tool_result(response_id, call_id, outcome.content, outcome.is_error)
        output = json.dumps({"error": outcome.content}) if outcome.is_error else outcome.content
        if self._adapter is not None:
            await self._adapter.add_tool_output(call_id, output)

    def _on_truncated(self, event: Any) -> None:
        heard, response_id = self._truncations.pop(event.item_id, (None, None))
        self._emit(AssistantTranscriptTruncated(provider_item_id=event.item_id, audio_end_ms=event.audio_end_ms,
                                                text=heard, response_id=response_id))

    def _on_speech_started(self, event: Any) -> None:
        response_id = self._active_response
        if response_id is not None and self._stager.response(response_id).audio_ms:
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
        else:
            self._flush_pending()

    def _on_input_committed(self, event: Any) -> None:
        self._flush_pending()  # newly committed input starts the next turn
        self._awaiting_transcripts.add(event.item_id)
        self._stager.reserve_user(event.item_id)

    def _on_item_added(self, event: Any) -> None:
        item_id = event.item.id
        typed = self._typed.pop(item_id, None) if item_id else None
        if typed is not None:
            text, row = typed
            self._stager.stage_user(row if row is not None else text, item_id)
            self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=0))

    def _on_transcription(self, event: Any) -> None:
        self._stage_transcript(event.item_id, event.transcript, event.content_index)

    def _on_transcription_failed(self, event: Any) -> None:
        self._stage_transcript(event.item_id, UNTRANSCRIBED, event.content_index)

    def _stage_transcript(self, item_id: str, text: str, content_index: int | None) -> None:
        if item_id in self._given_up:  # its turn is already committed (as UNTRANSCRIBED): say it, stage nothing
            self._given_up.discard(item_id)
            log.info("%s: transcript of %s arrived after its turn was committed", self._where, item_id)
            self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=content_index))
            return
        pending = self._pending
        for_pending = pending is not None and item_id in pending.awaiting
        if pending is not None and not for_pending:
            self._flush_pending()
        self._awaiting_transcripts.discard(item_id)
        self._stager.stage_user(text, item_id)
        self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=content_index))
        if pending is not None and for_pending:
            pending.awaiting.discard(item_id)
            if not pending.awaiting and not pending.hold_for_truncate:
                self._flush_pending()

    def _on_response_done(self, event: Any) -> None:
        response = event.response
        response_id = response.id
        if response_id == self._active_response:
            self._active_response = None
        lanes = self._stager.response(response_id)
        self._stager.finish_response(response_id)
        self._settle_truncations()
        if response.usage is not None:
            lanes.usage = Usage(input_tokens=response.usage.input_tokens or 0,
                                output_tokens=response.usage.output_tokens or 0,
                                total_tokens=response.usage.total_tokens or 0)
        tools = self._tool_tasks.pop(response_id, [])
        if tools and response.status == "completed":
            self._respond_next = False  # the response after the tools answers what came in meanwhile too
            self._spawn(self._continue_after_tools(tools))
            return
        if self._respond_next and self._active_response is None:
            self._respond_next = False
            self._spawn(self._respond_deferred())
        interrupted = lanes.interrupted or response.status == "cancelled"
        if interrupted and not lanes.interrupted:
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
        stop = "cancelled" if interrupted else _STOP_BY_STATUS.get(response.status or "completed", "end_turn")
        self._pend(stop, response_id, hold_for_truncate=interrupted and bool(lanes.audio_ms))

    async def _respond_deferred(self) -> None:
        """The response an injected row asked for while another response ran (it is in the conversation)."""
        if self._adapter is not None and self._state.name == "ready" and self._active_response is None \
                and not self._response_requested:
            await self._request_response(self._adapter)

    async def _continue_after_tools(self, tools: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*tools, return_exceptions=True)
        if self._adapter is not None and self._state.name == "ready":
            await self._request_response(self._adapter)

    def _on_error(self, event: Any) -> None:
        error = event.error
        if error.code == "conversation_already_has_active_response" and self._response_requested:
            # A response started (e.g. by server VAD) just before ours was asked for: ask again when it ends.
            log.debug("%s: response requested while one was active; requesting it again after", self._where)
            self._response_requested = False
            if self._active_response is None:  # that one has ended already
                self._spawn(self._respond_deferred())
            else:
                self._respond_next = True
            return
        self._emit(CommandRejected(code=ErrorCode(code="provider_error", raw=error.code),
                                   message=f"{self._where}: provider error: {error.message}"))


_HANDLERS: dict[str, Callable[[ProviderEventsMixin, Any], None]] = {
    "response.created": ProviderEventsMixin._on_response_created,
    "response.output_text.delta": ProviderEventsMixin._on_text_delta,
    "response.output_audio_transcript.delta": ProviderEventsMixin._on_transcript_delta,
    "response.output_audio.delta": ProviderEventsMixin._on_audio_delta,
    "response.output_audio_transcript.done": ProviderEventsMixin._on_transcript_done,
    "response.function_call_arguments.done": ProviderEventsMixin._on_function_call,
    "response.done": ProviderEventsMixin._on_response_done,
    "conversation.item.truncated": ProviderEventsMixin._on_truncated,
    "input_audio_buffer.speech_started": ProviderEventsMixin._on_speech_started,
    "input_audio_buffer.committed": ProviderEventsMixin._on_input_committed,
    "conversation.item.added": ProviderEventsMixin._on_item_added,
    "conversation.item.input_audio_transcription.completed": ProviderEventsMixin._on_transcription,
    "conversation.item.input_audio_transcription.failed": ProviderEventsMixin._on_transcription_failed,
    "error": ProviderEventsMixin._on_error,
}
