"""The caller-facing commands of a live channel: send input, commit, interrupt, truncate, refresh, inject.

Each command checks the channel is ``ready`` (a typed :class:`~mobkat.errors.ChannelNotReadyError` naming
the remedy otherwise) and validates its input before anything reaches the provider.
"""

from __future__ import annotations

import asyncio
import base64

from mobkat.errors import ChannelNotReadyError, LiveError
from mobkat.history import HistoryRow, row_text
from mobkat.live.adapter import RealtimeAdapter
from mobkat.live.core import ChannelCore, TruncateWait
from mobkat.live.inputs import check_pcm, check_text, decode_audio, reject_unsupported
from mobkat.live.wire import AudioChunk, InputChunk, TextChunk, TurnInterrupted

TRUNCATE_WAIT_S = 2.0  # how long a truncate waits for the transcript to cover the played audio; read per call


class CommandsMixin(ChannelCore):
    """What a caller asks of an open channel (all on the I/O loop)."""

    def _require_ready(self, verb: str) -> RealtimeAdapter:
        if self._state.name != "ready" or self._adapter is None:
            remedy = "wait for it to reconnect" if self._state.name == "degraded" else "open a new channel"
            raise ChannelNotReadyError(f"{self._where} is {self._state.name}; cannot {verb}: {remedy}",
                                       details={"channel_id": self.channel_id, "status": self._state.name})
        return self._adapter

    async def send_input(self, chunk: InputChunk) -> None:
        """Audio (base64 pcm16 24 kHz mono) or text; bad input raises a typed error and the channel survives."""
        if isinstance(chunk, AudioChunk):
            pcm = decode_audio(chunk, self._where)
            adapter = self._require_ready("send input")
            del pcm  # validated; the provider takes the same base64 text
            await adapter.append_audio(chunk.data)
            self._audio_staged = True
            return
        if not isinstance(chunk, TextChunk):
            raise reject_unsupported(chunk, self._where)
        text = check_text(chunk, self._where)
        adapter = self._require_ready("send input")
        if self.turning_mode == "explicit_commit":
            self._staged_text.append(text)
            return
        await self._send_text(adapter, text)
        await self._request_response(adapter)

    async def send_pcm(self, pcm: bytes) -> None:
        """Raw pcm16 24 kHz mono (the live socket's binary frames), appended as it is."""
        check_pcm(pcm, self._where)
        adapter = self._require_ready("send input")
        await adapter.append_audio(base64.b64encode(pcm).decode())
        self._audio_staged = True

    async def _send_text(self, adapter: RealtimeAdapter, text: str, row: HistoryRow | None = None) -> str:
        """Send typed text; it is staged when the provider echoes the item, so history keeps provider order."""
        self._flush_pending()
        item_id = adapter.new_text_item_id()
        self._typed[item_id] = (text, row)
        await adapter.add_user_text(text, item_id)
        return item_id

    async def commit_input(self, modality: str | None = None) -> None:
        """Explicit-commit mode: commit staged audio/text and ask for a response (optionally text-only)."""
        adapter = self._require_ready("commit input")
        if self.turning_mode != "explicit_commit":
            raise LiveError(f"{self._where} uses provider_managed turns (server VAD commits); commit_input is only "
                            "valid for explicit_commit channels: reopen with turning_mode='explicit_commit'",
                            details={"kind": "commit_requires_explicit_commit"})
        if not self._audio_staged and not self._staged_text:
            raise LiveError(f"{self._where}: commit_input requires staged input; send audio or text first",
                            details={"kind": "commit_requires_staged_input"})
        if modality not in (None, "audio", "text"):
            raise LiveError(f"{self._where}: response modality must be 'audio' or 'text', not {modality!r}",
                            details={"kind": "invalid_response_modality"})
        self._flush_pending()
        if self._audio_staged:
            await adapter.commit_audio()
            self._audio_staged = False
        texts, self._staged_text = self._staged_text, []
        for text in texts:
            await self._send_text(adapter, text)
        await self._request_response(adapter, modality)

    async def interrupt(self) -> str | None:
        """Barge-in: cancel the active response; its unspoken rest never reaches history."""
        adapter = self._require_ready("interrupt")
        response_id = self._active_response
        if response_id is None:
            if self._response_requested:
                self._cancel_next = True  # the requested response is cancelled as soon as it starts
            return None
        self._stager.interrupt(response_id)
        self._emit(TurnInterrupted(response_id=response_id))
        await adapter.cancel_response()
        return response_id

    async def truncate(self, item_id: str, content_index: int, audio_played_ms: int) -> str:
        """Keep only what the client played of ``item_id``; returns the heard transcript.

        The provider's transcript deltas can lag its audio (and arrive after the interrupt), so the heard
        text is decided once the transcript covers the played audio: a delta for audio past the cursor, the
        item's final transcript or ``response.done`` — at most ``TRUNCATE_WAIT_S``, then (or when the turn
        must commit first) from what is known, a word cut at its end dropped."""
        adapter = self._require_ready("truncate")
        if audio_played_ms < 0 or content_index < 0:
            raise LiveError(f"{self._where}: audio_played_ms and content_index must be >= 0",
                            details={"kind": "invalid_truncate_cursor"})
        lanes = self._stager.item_response(item_id)
        if lanes is None:
            raise LiveError(f"{self._where}: item {item_id!r} is not assistant audio of the current turn "
                            "(truncate before the turn is committed, using item_id from assistant_audio_chunk)",
                            details={"kind": "truncate_unknown_item", "item_id": item_id})
        heard = await self._heard(item_id, audio_played_ms)
        adapter = self._require_ready("truncate")  # the socket may have dropped while the transcript was awaited
        self._truncations[item_id] = (heard, lanes.response_id)
        await adapter.truncate(item_id, content_index, audio_played_ms)
        pending = self._pending
        if pending is not None and pending.hold_for_truncate and pending.response_id == lanes.response_id:
            self._flush_pending()
        return heard

    async def _heard(self, item_id: str, played_ms: int) -> str:
        """What ``played_ms`` of ``item_id`` said, decided exactly once (see :meth:`truncate`)."""
        wait = TruncateWait(item_id, played_ms, asyncio.get_running_loop().create_future())
        self._truncate_waits.append(wait)
        try:
            self._settle_truncations()
            if not wait.heard.done():
                await asyncio.wait([wait.heard], timeout=TRUNCATE_WAIT_S)
            if not wait.heard.done():  # the transcript never caught up: decide with what is known
                self._settle_truncations(force=wait)
            return wait.heard.result()
        finally:
            if wait in self._truncate_waits:
                self._truncate_waits.remove(wait)

    async def refresh(self) -> None:
        """Re-apply instructions, tools and audio format in place; a model/provider swap needs close + open."""
        adapter = self._require_ready("refresh")
        if (self.session.model, self.session.provider) != (self.model, self.provider):
            raise LiveError(
                f"{self._where} is bound to {self.provider}/{self.model} but the session now uses "
                f"{self.session.provider}/{self.session.model}; a model or provider swap needs live/close + live/open",
                details={"kind": "refresh_model_swap", "from_model": self.model, "to_model": self.session.model})
        await adapter.update_session(self._provider_config())

    async def run_text_turn(self, text: str, row: HistoryRow | None = None) -> list[HistoryRow]:
        """A request/response turn through the open channel (text reply); returns the committed rows."""
        adapter = self._require_ready("run a turn")
        item_id = await self._send_text(adapter, check_text(TextChunk(text=text), self._where), row)
        waiter: asyncio.Future[list[HistoryRow]] = asyncio.get_running_loop().create_future()
        self._turn_waiters[item_id] = waiter
        await self._request_response(adapter, "text")
        return await waiter

    async def inject(self, row: HistoryRow, *, respond: bool = True) -> None:
        """Put a row (e.g. a peer-message notice) into the live conversation; it lands in history, as that
        row, at the next turn boundary."""
        adapter = self._require_ready("inject input")
        await self._send_text(adapter, row_text(row), row)
        if not respond:
            return
        if self._active_response is not None or self._response_requested:
            self._respond_next = True  # the provider refuses a second response while one runs
        else:
            await self._request_response(adapter)
