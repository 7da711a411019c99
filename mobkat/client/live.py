"""The client side of a live channel's WebSocket: send audio/text, iterate typed observations.

::

    opened = await client.live_open(session_id)
    async with client.live_connect(opened) as socket:
        await socket.send_audio(pcm, frame_ms=40)
        async for observation in socket:
            ...
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mobkat.client.errors import LiveSocketRejected, ProtocolError
from mobkat.live.wire import (
    OBSERVATION,
    SAMPLE_RATE_HZ,
    AudioChunk,
    InputChunk,
    LiveOpenResult,
    Observation,
    TextChunk,
)

MAX_INCOMING_BYTES = 16 * 1024 * 1024
BYTES_PER_MS = SAMPLE_RATE_HZ * 2 // 1000
HTTP_REFUSALS = {401: "unauthenticated", 404: "not_found", 503: "too_many_live_sockets"}


def socket_url(opened: LiveOpenResult | dict[str, Any] | str) -> str:
    """The WebSocket URL of a ``live/open`` result (or the URL itself)."""
    if isinstance(opened, str):
        return opened
    if isinstance(opened, dict):
        opened = LiveOpenResult.model_validate(opened)
    if opened.transport.transport != "websocket" or not opened.transport.url:
        raise ProtocolError("invalid_response", f"live/open returned no WebSocket URL: {opened.transport}")
    return opened.transport.url


class LiveSocket:
    """An async context manager and async iterator over one channel's observations."""

    def __init__(self, url: str, *, auth_token: str | None = None) -> None:
        """``auth_token``: the server's ``--auth-token-file`` secret, sent as ``Authorization: Bearer``."""
        self.url = url
        self._headers = {"Authorization": f"Bearer {auth_token}"} if auth_token is not None else None
        self._ws: ClientConnection | None = None
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.seen: list[Observation] = []

    async def __aenter__(self) -> LiveSocket:
        try:
            self._ws = await connect(self.url, max_size=MAX_INCOMING_BYTES, open_timeout=10, close_timeout=2,
                                     additional_headers=self._headers)
        except InvalidStatus as exc:
            status = exc.response.status_code
            code = HTTP_REFUSALS.get(status, "http_error")
            body = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
            raise LiveSocketRejected(code, f"the live socket was refused with HTTP {status}: {body}",
                                     error=f"http_{status}") from None
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def ws(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the live socket is not connected; use `async with client.live_connect(...)`")
        return self._ws

    # -- sending -----------------------------------------------------------------------------------
    async def send_audio(self, pcm: bytes, *, frame_ms: int | None = None) -> None:
        """Raw pcm16 24 kHz mono as binary frames (one frame, or ``frame_ms`` slices)."""
        step = len(pcm) if frame_ms is None else max(2, frame_ms * BYTES_PER_MS)
        for start in range(0, len(pcm), step):
            await self.ws.send(pcm[start:start + step])

    async def send_chunk(self, chunk: InputChunk | dict[str, Any]) -> None:
        """A JSON text frame shaped like ``live/send_input``'s ``chunk``."""
        data = chunk if isinstance(chunk, dict) else chunk.model_dump(mode="json")
        await self.ws.send(json.dumps(data))

    async def send_text(self, text: str) -> None:
        await self.send_chunk(TextChunk(text=text))

    async def send_audio_chunk(self, pcm: bytes) -> None:
        """Audio as a JSON text frame (base64), the same shape ``live/send_input`` takes."""
        await self.send_chunk(AudioChunk(data=base64.b64encode(pcm).decode()))

    async def send_raw(self, frame: str | bytes) -> None:
        """Send a frame exactly as given."""
        await self.ws.send(frame)

    # -- receiving ---------------------------------------------------------------------------------
    def __aiter__(self) -> LiveSocket:
        return self

    async def __anext__(self) -> Observation:
        try:
            message = await self.ws.recv()
        except ConnectionClosed as exc:
            self._closed(exc)
            raise StopAsyncIteration from None
        data = json.loads(message)
        if isinstance(data, dict) and "observation" not in data and "error" in data:
            await self._wait_closed()
            raise LiveSocketRejected(str(data.get("reason", "rejected")), str(data.get("message", data)),
                                     error=str(data["error"]), close_code=self.close_code)
        observation = OBSERVATION.validate_python(data)
        self.seen.append(observation)
        return observation

    async def wait_for(self, observation: str, timeout: float = 15.0) -> Observation:
        """Read up to and including the next observation tagged ``observation``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {observation!r} observation within {timeout:g} s")
            try:
                item = await asyncio.wait_for(self.__anext__(), remaining)
            except StopAsyncIteration:
                raise TimeoutError(f"the live socket closed (code {self.close_code}) before {observation!r}") from None
            if item.observation == observation:
                return item

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            await self._wait_closed()

    async def _wait_closed(self) -> None:
        ws = self.ws
        try:
            await asyncio.wait_for(ws.wait_closed(), 5)
        except TimeoutError:
            return
        self.close_code = ws.close_code
        self.close_reason = ws.close_reason

    def _closed(self, exc: ConnectionClosed) -> None:
        received = exc.rcvd
        self.close_code = received.code if received is not None else self.ws.close_code
        self.close_reason = received.reason if received is not None else self.ws.close_reason
