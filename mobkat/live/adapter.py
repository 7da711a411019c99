"""Provider adapter: one OpenAI Realtime connection through the ``openai`` SDK's realtime client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import openai
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from mobkat.errors import LiveProviderError
from mobkat.live.sdk_events import append_event, client_event, parse_server_event
from mobkat.live.wire import SAMPLE_RATE_HZ, TurningMode
from mobkat.providers.realtime_items import seed_event

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT = 15.0
DEFAULT_VOICE = "marin"


@dataclass(frozen=True)
class ProviderConfig:
    """Everything ``session.update`` carries; ``refresh`` re-sends a new one without reconnecting."""

    instructions: str
    tools: list[dict[str, Any]]
    turning_mode: TurningMode
    voice: str = DEFAULT_VOICE
    transcription_model: str | None = None
    sample_rate_hz: int = SAMPLE_RATE_HZ

    def session_update(self) -> dict[str, Any]:
        audio_format = {"type": "audio/pcm", "rate": self.sample_rate_hz}
        audio_in: dict[str, Any] = {"format": audio_format}
        if self.transcription_model:
            audio_in["transcription"] = {"model": self.transcription_model, "language": "en"}
        audio_in["turn_detection"] = (
            {"type": "server_vad", "create_response": True, "interrupt_response": True}
            if self.turning_mode == "provider_managed" else None
        )
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": audio_in, "output": {"format": audio_format, "voice": self.voice}},
            "tools": self.tools,
            "tool_choice": "auto",
        }
        if self.instructions:
            session["instructions"] = self.instructions
        return session


@contextlib.contextmanager
def _delivering(event_type: str) -> Iterator[None]:
    """A send that meets a dropped provider socket is a typed error, not a websockets exception: the
    event was not delivered, and the channel's reader sees the drop and reconnects."""
    try:
        yield
    except (ConnectionClosed, OSError) as exc:
        raise LiveProviderError(
            f"{event_type} was not delivered: the provider connection dropped ({type(exc).__name__}); the channel "
            "is reconnecting: send it again once it is ready",
            details={"kind": "input_not_delivered", "event": event_type}) from exc


def text_item_id() -> str:
    return f"mk_text_{uuid.uuid4().hex[:20]}"


class RealtimeAdapter:
    """Owns one provider socket. Sends are typed helpers; :meth:`events` yields the SDK's parsed events."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self.model = model
        self._conn: Any = None
        self._closing = False

    async def connect(self, config: ProviderConfig, seed_items: list[dict[str, Any]]) -> None:
        """Connect, wait for ``session.created``, apply ``config``, seed history; raises LiveProviderError."""
        try:
            await asyncio.wait_for(self._handshake(config, seed_items), HANDSHAKE_TIMEOUT)
        except TimeoutError:
            await self.close()
            raise LiveProviderError(f"failed to open provider session for {self.model}: handshake timed out") from None
        except (openai.OpenAIError, OSError) as exc:
            await self.close()
            raise LiveProviderError(f"failed to open provider session for {self.model}: {exc}") from exc
        except Exception as exc:  # websockets handshake/close errors
            await self.close()
            raise LiveProviderError(f"failed to open provider session for {self.model}: "
                                    f"{type(exc).__name__}: {exc}") from exc

    async def _handshake(self, config: ProviderConfig, seed_items: list[dict[str, Any]]) -> None:
        self._conn = await self._client.realtime.connect(model=self.model).enter()
        await self._expect("session.created")
        await self._conn.session.update(session=config.session_update())
        await self._expect("session.updated")
        for item in seed_items:  # as wire text: the SDK's keyword helper would transform each item (~0.35 ms)
            await self._conn.send_raw(seed_event(item))

    async def _expect(self, event_type: str) -> None:
        while True:
            event = await self._conn.recv()
            if event.type == event_type:
                return
            if event.type == "error":
                raise LiveProviderError(f"provider refused the session: {event.error.message}")

    async def events(self) -> AsyncIterator[Any]:
        """Provider events, as the SDK's classes, until the socket ends (a drop raises; a clean end just stops).

        The connection's own iterator does the same (mobkat configures no SDK reconnects), but parses
        each event ~20x slower (:mod:`mobkat.live.sdk_events`)."""
        conn = self._conn
        while True:
            try:
                raw = await conn.recv_bytes()
            except ConnectionClosedOK:
                return
            yield parse_server_event(raw, conn.parse_event)

    @property
    def closing(self) -> bool:
        return self._closing

    async def update_session(self, config: ProviderConfig) -> None:
        with _delivering("session.update"):
            await self._conn.session.update(session=config.session_update())

    async def _send(self, event: dict[str, Any]) -> None:
        """Send as the SDK's typed event: no parameter transform (see :mod:`mobkat.live.sdk_events`)."""
        with _delivering(event["type"]):
            await self._conn.send(client_event(event))

    async def append_audio(self, audio_b64: str) -> None:
        with _delivering("input_audio_buffer.append"):
            await self._conn.send_raw(append_event(audio_b64))

    async def commit_audio(self) -> None:
        with _delivering("input_audio_buffer.commit"):
            await self._conn.input_audio_buffer.commit()

    @staticmethod
    def new_text_item_id() -> str:
        return text_item_id()

    async def add_user_text(self, text: str, item_id: str) -> str:
        await self._send({"type": "conversation.item.create", "item": {
            "id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}],
        }})
        return item_id

    async def add_tool_output(self, call_id: str, output: str) -> None:
        await self._send({"type": "conversation.item.create",
                          "item": {"type": "function_call_output", "call_id": call_id, "output": output}})

    async def create_response(self, modality: str | None = None) -> None:
        if modality is None:
            await self._send({"type": "response.create"})
        else:
            await self._send({"type": "response.create", "response": {"output_modalities": [modality]}})

    async def cancel_response(self) -> None:
        await self._send({"type": "response.cancel"})

    async def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        with _delivering("conversation.item.truncate"):
            await self._conn.conversation.item.truncate(item_id=item_id, content_index=content_index,
                                                        audio_end_ms=audio_end_ms)

    async def close(self) -> None:
        self._closing = True
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception as exc:  # the socket is dropped either way; say why the close handshake failed
                log.warning("realtime socket to %s: close failed: %s: %s", self.model, type(exc).__name__, exc)
