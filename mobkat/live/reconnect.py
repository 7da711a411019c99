"""Reconnect: a dropped provider socket → ``degraded``, the in-flight turn dropped, re-open with backoff.

Finished turns are made durable first, so the new socket is re-seeded from the committed history; after
:class:`~mobkat.live.core.ReconnectPolicy` ``attempts`` failures the channel closes with ``connection_lost``.
"""

from __future__ import annotations

import asyncio

from mobkat.errors import LiveProviderError
from mobkat.live.core import ChannelCore
from mobkat.live.wire import DegradedReason, ErrorCode, LiveErrorObservation, Ready


class ReconnectMixin(ChannelCore):
    """Handles a dropped provider socket (the pump calls ``_reconnect``)."""

    async def _reconnect(self, reason: str) -> bool:
        self._move("degraded", DegradedReason(kind="network_unstable", detail=reason))
        self._flush_pending()
        self._stager.reset()
        self._settle_truncations(lost=f"{self._where}: provider connection dropped mid-turn; the turn was "
                                      "not committed")
        self._active_response = None
        self._awaiting_transcripts.clear()
        self._given_up.clear()
        self._staged_text, self._audio_staged = [], False
        self._typed.clear()
        self._response_requested = self._cancel_next = self._respond_next = False
        self._fail_waiters(f"{self._where}: provider connection dropped mid-turn; the turn was not committed")
        for tasks in self._tool_tasks.values():
            for task in tasks:
                task.cancel()
        self._tool_tasks.clear()
        old, self._adapter = self._adapter, None
        if old is not None:
            await old.close()
        async with self._commit_lock:
            pass  # re-seed only after every finished turn is durable
        last_error = reason
        for attempt in range(self.reconnect_policy.attempts):
            await asyncio.sleep(self.reconnect_policy.delay(attempt))
            if self._state.name != "degraded":
                return False
            try:
                self.continuity = await self._connect()
            except LiveProviderError as exc:
                last_error = str(exc)
                continue
            self._move("ready")
            self._emit(Ready())
            return True
        self._emit(LiveErrorObservation(
            code=ErrorCode(code="connection_lost"),
            message=f"{self._where}: provider connection lost and {self.reconnect_policy.attempts} reconnect "
                    f"attempts failed ({last_error}); committed history is intact, open a new channel"))
        self._move("closed")
        return False
