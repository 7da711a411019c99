"""How a member's turn answers for the messages that opened it: exactly once, or dead-lettered.

- The acknowledgement rides on the commit: :meth:`TurnRun.run` acknowledges the turn's messages in the
  same step of the I/O loop in which the turn committed, with nothing awaited in between, so neither a
  crash of the member's actor nor a cancellation can fall between the two.
- A crash waits for the turn: :meth:`TurnRun.abandon` cancels the turn and reports the crash only once its
  task has ended, from the loop thread that acknowledged any commit. The supervisor therefore reads the
  acknowledgement first, and redelivers exactly the messages that did not commit.
- A turn that fails is retried: its messages go back to the member's inbox until they have been tried
  ``attempts`` times, then they are dead-lettered (``message_dead_lettered``), never dropped silently.
  Between attempts the member waits (:func:`retry_delay`: 0.25 s, then doubling), so a provider that is
  reconnecting or a live channel that is ``degraded`` gets time to come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from mobkat.errors import MobkatError
from mobkat.history import HistoryRow
from mobkat.mob.messages import Envelope
from mobkat.session.session import TurnResult

DELIVERY_ATTEMPTS = 3
"""How many turns a message gets before it is dead-lettered (``Mob(delivery_attempts=...)``)."""
RETRY_BACKOFF_S = 0.25
"""The wait before a failed turn's messages are tried again; it doubles with each failed attempt."""
RETRY_BACKOFF_MAX_S = 5.0


def retry_delay(attempts: int, base_s: float = RETRY_BACKOFF_S) -> float:
    """The wait after the ``attempts``-th failed attempt: ``base_s``, then doubling, at most 5 s."""
    return float(min(RETRY_BACKOFF_MAX_S, base_s * 2.0 ** max(0, attempts - 1)))

Committed = Callable[[TurnResult, list[str]], None]


def failure_kind(exc: BaseException) -> str:
    """A stable name for why a turn failed: the error's ``code`` (``provider_error``, ...) or its class name."""
    return exc.code if isinstance(exc, MobkatError) else type(exc).__name__


class TurnRun:
    """One member turn on the I/O loop, opened by ``envelopes`` (and ``context`` rows that open no turn).

    ``steered`` holds the messages steered into the running turn: the member's actor appends to it (and
    pops what the session refused), the loop reads a snapshot. Everything else is touched on the loop
    thread only, except ``detached``, a flag the actor sets when the member is stopped.
    """

    def __init__(self, envelopes: tuple[Envelope, ...], context: list[HistoryRow]) -> None:
        self.envelopes = envelopes
        self.context = context
        self.steered: list[tuple[Envelope, HistoryRow]] = []
        self.detached = False
        """Set when the member was stopped (retired, mob stopped): the turn reports nothing any more."""
        self._task: asyncio.Task[Any] | None = None
        self._finished = False
        self._on_over: Callable[[], None] | None = None

    def consumed_ids(self, result: TurnResult) -> list[str]:
        """The ids of the opening messages, and of the steered ones whose rows are in the committed turn."""
        steered = [envelope.id for envelope, row in list(self.steered) if any(row is r for r in result.rows)]
        return [envelope.id for envelope in self.envelopes] + steered

    async def run(self, turn: Callable[[], Awaitable[TurnResult]], committed: Committed) -> TurnResult:
        """Run the turn; once it committed, call ``committed(result, consumed_ids)`` before anything else."""
        self._task = asyncio.current_task()
        try:
            if self._on_over is not None:  # abandoned before it began: never start it
                raise asyncio.CancelledError
            result = await turn()
            # The turn is committed and nothing has been awaited since: acknowledge in this same step.
            if not self.detached:
                committed(result, self.consumed_ids(result))
            return result
        finally:
            self._finished = True
            if self._on_over is not None:
                self._on_over()

    def abandon(self, report: Callable[[], None]) -> None:
        """The member crashed (call on the loop): cancel the turn, and ``report()`` once it has ended.

        A turn that committed has acknowledged its messages by then (on this same thread, so before the
        report); a cancelled turn never commits.
        """
        if self._finished:
            report()
            return
        self._on_over = report
        if self._task is not None:
            self._task.cancel()


__all__ = ["DELIVERY_ATTEMPTS", "RETRY_BACKOFF_S", "TurnRun", "failure_kind", "retry_delay"]
