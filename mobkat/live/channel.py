"""A live channel: one realtime provider connection, committing its turns into the session's history.

Everything here runs on the session services' I/O loop. The channel is the only writer of the
session's history while it is open; turns commit at their boundary, and ``turn_completed`` is
published only after the commit is durable.

This module holds :class:`LiveChannel` (open, close, and the turn boundary) and re-exports the public
names; its parts live in :mod:`~mobkat.live.core` (state), :mod:`~mobkat.live.commands` (caller
commands), :mod:`~mobkat.live.provider_events` (provider events) and :mod:`~mobkat.live.reconnect`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from mobkat.errors import LiveError, LiveProviderError
from mobkat.history import HistoryRow, StopReason, Usage
from mobkat.live.commands import CommandsMixin
from mobkat.live.core import PendingCommit, ReconnectPolicy
from mobkat.live.provider_events import ProviderEventsMixin
from mobkat.live.wire import (
    ChannelStatus,
    CommandRejected,
    ErrorCode,
    LiveCapabilities,
    LiveErrorObservation,
    LiveOpenResult,
    LiveTransport,
    Ready,
    TurnCompleted,
    TurnUsage,
)
from mobkat.providers.realtime_items import SEED_PREFIX
from mobkat.session.session import Session

log = logging.getLogger(__name__)

TRANSCRIPT_WAIT_S = 5.0  # how long a finished turn waits for its input transcript; read at each boundary


def capabilities_of(session: Session) -> LiveCapabilities:
    """Channel capabilities derived from the catalog row of the session's model."""
    caps = session.profile.capabilities
    return LiveCapabilities(
        audio_in=caps.realtime, audio_out=caps.realtime, text_in=True, text_out=True, image_in=False,
        video_in=False, transcript_supported=caps.realtime_transcript_supported,
        barge_in_supported=caps.realtime_interrupt_supported, provider_native_resume=False)


class LiveChannel(CommandsMixin, ProviderEventsMixin):
    """At most one per session; created and driven by the session's actor."""

    # -- open / close -------------------------------------------------------------------------------
    async def open(self) -> LiveOpenResult:
        """Connect to the provider, seed the canonical history, start observing."""
        self._move("opening")
        try:
            self.continuity = await self._connect()
        except LiveProviderError as exc:
            self._emit(LiveErrorObservation(code=ErrorCode(code="connection_failed"), message=str(exc)))
            self._move("closed")
            raise
        self._move("ready")
        self._emit(Ready())
        self._pump = self._spawn(self._run_pump())
        return LiveOpenResult(channel_id=self.channel_id, transport=LiveTransport(transport="in_process"),
                              capabilities=capabilities_of(self.session), continuity=self.continuity,
                              turning_mode=self.turning_mode)

    async def close(self) -> ChannelStatus:
        """Commit a finished-but-held turn, close the provider socket, and mark the channel closed."""
        if self._state.name in ("closing", "closed"):
            return self.status
        self._move("closing")
        self._flush_pending()
        async with self._commit_lock:
            pass  # wait for queued commits to become durable
        await self._shutdown_io()
        self._fail_waiters(f"{self._where} was closed before the turn completed")
        self._move("closed")
        return self.status

    async def _shutdown_io(self) -> None:
        if self._adapter is not None:
            await self._adapter.close()
        current = asyncio.current_task()
        for task in [t for t in self._tasks if t is not current]:
            task.cancel()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            await asyncio.wait(pending, timeout=5)
        self._tool_tasks.clear()

    # -- the turn boundary: hold a finished turn briefly, then commit it --------------------------------
    def _pend(self, stop: StopReason, response_id: str | None, *, hold_for_truncate: bool) -> None:
        self._flush_pending()
        pending = self._pending = PendingCommit(stop, response_id, hold_for_truncate=hold_for_truncate,
                                                awaiting=set(self._awaiting_transcripts))
        self._awaiting_transcripts.clear()
        wait = self.truncate_grace_s if hold_for_truncate else 0.0
        if pending.awaiting:
            wait = max(wait, TRANSCRIPT_WAIT_S)
        if wait <= 0:
            self._flush_pending()
        else:
            pending.timer = asyncio.get_running_loop().call_later(wait, self._flush_pending)

    def _flush_pending(self) -> None:
        """Take the finished turn's rows now (synchronously) and write them in order."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        self._given_up |= pending.awaiting
        self._settle_truncations(force=True)  # a truncate still waiting is decided with what is known now
        usage = self._stager.responses[pending.response_id].usage \
            if pending.response_id in self._stager.responses else Usage()
        rows, item_ids = self._stager.take_turn(pending.stop_reason)
        if rows:
            self._spawn(self._write_turn(rows, pending.stop_reason, pending.response_id, usage, item_ids))

    async def _write_turn(self, rows: list[HistoryRow], stop: StopReason, response_id: str | None,
                          usage: Usage, item_ids: list[str]) -> None:
        async with self._commit_lock:
            waiters = [w for i in item_ids if (w := self._turn_waiters.pop(i, None)) is not None]
            turn_id = f"{self.channel_id}:{response_id or uuid.uuid4().hex}"
            try:
                await asyncio.to_thread(self.session.commit, rows, turn_id=turn_id)
            except Exception as exc:  # the turn is lost: say so, never hang a waiter
                message = f"{self._where}: the turn could not be committed: {type(exc).__name__}: {exc}"
                log.error(message)
                self._emit(CommandRejected(code=ErrorCode(code="internal_error"), message=message))
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(LiveError(message))
                return
            self.committed_turns += 1
            self._emit(TurnCompleted(stop_reason=stop, response_id=response_id, committed_messages=len(rows),
                                     usage=TurnUsage(**usage.model_dump())))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(rows)


__all__ = ["SEED_PREFIX", "LiveChannel", "ReconnectPolicy", "capabilities_of"]
