"""One live WebSocket: client frames in, channel observations out, channel closed when it ends.

Client → server: binary frames of raw pcm16 24 kHz mono (with ``format=pcm_24k_mono`` in the URL)
or JSON text frames shaped like ``live/send_input``'s ``chunk``. Server → client: one JSON
observation per text frame. Input is bounded: past the ingress budget a chunk is refused with a
``command_rejected`` (``input_backpressured``) observation and the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from mobkat.errors import LiveInputRejectedError, MobkatError
from mobkat.live.inputs import check_pcm, decode_audio, parse_chunk
from mobkat.live.wire import AudioChunk, CommandRejected, ErrorCode, ImageChunk, InputChunk, rejected
from mobkat.rpc.feed import ChannelFeed
from mobkat.rpc.realms import SessionEntry
from mobkat.rpc.wire_guard import JsonTextError, load_bounded, lone_surrogate_path, may_hold_surrogates

if TYPE_CHECKING:
    from mobkat.live.channel import LiveChannel

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 2 * 1024 * 1024
INGRESS_BUDGET_BYTES = 3 * MAX_FRAME_BYTES
COALESCE_BYTES = 256 * 1024
CLOSE_INVALID_DATA = 1007
CLOSE_UNSUPPORTED_DATA = 1003


@dataclass(frozen=True)
class ChannelGrant:
    """What a redeemed token opens: the channel, its session actor and its observation feed."""

    channel_id: str
    entry: SessionEntry
    feed: ChannelFeed


class IngressBudget:
    """Bytes of client input accepted but not yet handed to channels, shared by all sockets."""

    def __init__(self, limit: int = INGRESS_BUDGET_BYTES) -> None:
        self.limit = limit
        self.pending = 0

    def take(self, size: int) -> bool:
        if self.pending and self.pending + size > self.limit:
            return False
        self.pending += size
        return True

    def release(self, size: int) -> None:
        self.pending = max(0, self.pending - size)


def rejection_of(exc: MobkatError) -> CommandRejected:
    """A ``command_rejected`` observation for a refused input (the channel survives)."""
    if isinstance(exc, LiveInputRejectedError):
        return CommandRejected(code=ErrorCode(code="config_rejected", reason=exc.reason), message=exc.message)
    return rejected("other", exc.message, detail=exc.code)


class LiveSocket:
    """Serves one accepted WebSocket until either side ends it."""

    def __init__(self, ws: ServerConnection, grant: ChannelGrant, *, pcm_format: bool, budget: IngressBudget) -> None:
        self.ws = ws
        self.grant = grant
        self.pcm_format = pcm_format
        self.budget = budget
        self._pending: deque[tuple[InputChunk | bytes, int]] = deque()
        self._ready = asyncio.Event()
        self._where = f"live socket of channel {grant.channel_id}"

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        feeder = asyncio.create_task(self._ingress_loop())
        try:
            await self._receive_loop()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            self._drain_queue()
            await self._close_channel()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(sender, timeout=2.0)
            self.grant.feed.detach()
            sender.cancel()
            await self.ws.close()

    # -- server → client -------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        feed = self.grant.feed
        try:
            while (observation := await feed.get()) is not None:
                await self.ws.send(json.dumps(observation.to_wire()))
            if not feed.detached:  # the channel closed: so does its socket
                await self.ws.close(1000, "live channel closed")
        except ConnectionClosed:
            feed.detach()

    # -- client → server -------------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    if not self.pcm_format:
                        await self._refuse(CLOSE_UNSUPPORTED_DATA, "binary_without_format",
                                           "binary audio frames need format=pcm_24k_mono in the socket URL; "
                                           "the channel was closed")
                        return
                    self._accept_pcm(message)
                elif (problem := self._accept_text(message)) is not None:
                    await self._refuse(CLOSE_INVALID_DATA, "invalid_text_frame",
                                       f'{problem}: text frames must be JSON input chunks such as '
                                       '{"kind":"text","text":"hi"}; the channel was closed')
                    return
        except ConnectionClosed as exc:
            log.debug("%s ended: %s", self._where, exc)

    def _accept_pcm(self, pcm: bytes) -> None:
        try:
            check_pcm(pcm, self._where)
        except LiveInputRejectedError as exc:
            self.grant.feed.push(rejection_of(exc))
            return
        self._enqueue(pcm, len(pcm))

    def _accept_text(self, message: str) -> str | None:
        """Why the frame violates the protocol (not JSON, nested too deep, a lone surrogate: close 1007),
        else None; refused chunks are reported as observations."""
        data = message.encode("utf-8", "surrogatepass")
        try:
            raw: Any = load_bounded(data)
        except JsonTextError as exc:
            return f"the frame is not accepted JSON ({exc.message})"
        if may_hold_surrogates(data) and (where := lone_surrogate_path(raw, "frame")) is not None:
            return f"{where} holds a lone UTF-16 surrogate (not valid Unicode)"
        try:
            chunk = parse_chunk(raw, self._where)
            if isinstance(chunk, ImageChunk):
                self.grant.feed.push(rejected(
                    "image_input_transport_unsupported",
                    f"{self._where}: images cannot be sent on the live socket; use the live/send_input RPC",
                    transport="direct_websocket_use_live_send_input_rpc"))
                return None
            size = len(decode_audio(chunk, self._where)) if isinstance(chunk, AudioChunk) else len(message)
        except LiveInputRejectedError as exc:
            self.grant.feed.push(rejection_of(exc))
            return None
        self._enqueue(chunk, size)
        return None

    def _enqueue(self, item: InputChunk | bytes, size: int) -> None:
        if not self.budget.take(size):
            self.grant.feed.push(rejected(
                "input_backpressured",
                f"{self._where}: input arrives faster than the channel takes it ({self.budget.pending} bytes "
                f"pending, limit {self.budget.limit}); this chunk was dropped: slow down and resend it",
                max_pending_bytes=self.budget.limit))
            return
        self._pending.append((item, size))
        self._ready.set()

    async def _ingress_loop(self) -> None:
        channel: LiveChannel | None = None
        while True:
            while not self._pending:
                self._ready.clear()
                await self._ready.wait()
            item, size = self._pending.popleft()
            try:
                if channel is None:  # asked of the session's actor once; every chunk then goes straight in
                    channel = await self.grant.entry.call("live_channel", self.grant.channel_id)
                if isinstance(item, bytes):
                    pcm = [item]  # adjacent pcm frames go to the channel as one chunk
                    while (self._pending and isinstance(self._pending[0][0], bytes)
                           and size + self._pending[0][1] <= COALESCE_BYTES):
                        nxt, nxt_size = self._pending.popleft()
                        assert isinstance(nxt, bytes)
                        pcm.append(nxt)
                        size += nxt_size
                    await channel.send_pcm(pcm[0] if len(pcm) == 1 else b"".join(pcm))
                else:
                    await channel.send_input(item)
            except MobkatError as exc:
                self.grant.feed.push(rejection_of(exc))
            except Exception as exc:  # unexpected (a dropped provider socket is a typed error): say so, keep serving
                log.warning("%s: input not delivered: %s: %s", self._where, type(exc).__name__, exc)
                self.grant.feed.push(rejected("other", f"{self._where}: input not delivered: {type(exc).__name__}",
                                              detail="input_not_delivered"))
            finally:
                self.budget.release(size)

    def _drain_queue(self) -> None:
        while self._pending:
            _item, size = self._pending.popleft()
            self.budget.release(size)

    # -- endings ---------------------------------------------------------------------------------
    async def _refuse(self, code: int, reason: str, message: str) -> None:
        self.grant.feed.detach()  # the socket ends with this error, not with the channel's last observations
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(json.dumps({"error": "live_frame_rejected", "reason": reason,
                                           "message": f"{self._where}: {message}"}))
        await self.ws.close(code, reason)
        await self._close_channel()

    async def _close_channel(self) -> None:
        try:
            await self.grant.entry.call("live_close", self.grant.channel_id)
        except MobkatError as exc:
            log.debug("%s: closing the channel: %s", self._where, exc)
