"""MemberActor: a SessionActor with a mob identity, an inbox of peer messages, and supervision hooks.

The actor never waits for a turn: it hands turns to the I/O loop and hears back through its own
mailbox (``_TurnDone``), stamped with the fence token of the generation that started them, so a
reply that outlives a restart is refused. A turn's messages are acknowledged by the commit itself,
on the loop, and a crash is reported only once the running turn has ended (:mod:`mobkat.mob.delivery`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pykka

from mobkat.history import HistoryRow, UserRow
from mobkat.mob.definition_schema import LiveSettings
from mobkat.mob.delivery import DELIVERY_ATTEMPTS, TurnRun, failure_kind, retry_delay
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.links import EventAppender, SupervisorMailbox, consumed_message_ids
from mobkat.mob.mailbox import DRAIN, Mailbox
from mobkat.mob.member_live import MemberLive
from mobkat.mob.messages import Envelope
from mobkat.session.session import Session, TurnResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _TurnDone:
    fence: str
    future: concurrent.futures.Future[TurnResult]


@dataclass(frozen=True)
class _Turn:
    fence: str
    run: TurnRun
    future: concurrent.futures.Future[TurnResult]


@dataclass(frozen=True)
class _Crash:
    reason: str


@dataclass(frozen=True)
class _RetryDue:
    """The back-off after a failed turn is over (stamped with the incarnation that started it)."""

    fence: str


@dataclass(frozen=True)
class OpenLive:
    """Supervisor → member: open your live channel now."""


class MemberActor(MemberLive):
    """One mob member: exactly one session, at most one live channel, an inbox worked one turn at a time."""

    def __init__(self, session: Session, identity: MemberIdentity, supervisor: SupervisorMailbox,
                 events: EventAppender, live: LiveSettings, mailbox: Mailbox, *,
                 delivery_attempts: int = DELIVERY_ATTEMPTS, **session_kwargs: Any) -> None:
        super().__init__(session, **session_kwargs)
        self.identity = identity
        self.supervisor = supervisor
        self.mailbox = mailbox  # the supervisor posts routed envelopes here and tells DRAIN
        self.events = events
        self.live_settings = live
        self.delivery_attempts = delivery_attempts
        self._inbox: deque[Envelope] = deque()
        self._context: list[HistoryRow] = []  # lifecycle notices: land with the next turn, never start one
        # steered rows that missed the turn they were meant for (with their messages): they start the next
        self._carry: list[tuple[Envelope, HistoryRow]] = []
        self._turn: _Turn | None = None
        self._attempts: dict[str, int] = {}  # failed turns per message id, in this incarnation
        self._backing_off = False  # after a failed turn: no turn starts until _RetryDue
        self._committed_turns = 0
        self._cancel_requested: concurrent.futures.Future[TurnResult] | None = None  # force_cancel's turn
        self._in_history: set[str] = set()  # a restarted member: messages its history already holds

    # -- supervision -------------------------------------------------------------------------------
    def on_start(self) -> None:
        """Read the session's history here, on the member's own thread, before any message is handled: a
        restarted member's session comes with its history deferred, so a long one never stalls the
        supervisor (routing for every member). A failed read is a crash, reported like any other (pykka
        stops an actor whose ``on_start`` raises without calling ``on_failure``: this does)."""
        try:
            self.session.load_history()
            if self.identity.generation > 0:
                self._in_history = consumed_message_ids(self.session.history())
        except Exception:
            self.on_failure(*sys.exc_info())
            raise

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Close the live channel, then report the crash once the running turn (if any) has ended.

        The report must not overtake the turn: a turn that committed acknowledges its messages on the
        I/O loop, so the report is sent from there, after the turn's task is over (``TurnRun.abandon``).
        Otherwise the supervisor would redeliver a message whose turn committed: a duplicate turn."""
        super().on_stop()  # SessionActor's: closes the channel; a live turn's waiter resolves first
        crash = {"member_crashed": self.identity.name, "fence": self.identity.fence_token,
                 "error": f"{exception_type.__name__}: {exception_value}"}
        supervisor = self.supervisor

        def report() -> None:
            try:
                supervisor.tell(crash)
            except pykka.ActorDeadError:
                pass  # the mob is stopping: nobody restarts anything

        if self._turn is None:
            report()
            return
        try:
            self._runtime.call_soon(self._turn.run.abandon, report)
        except Exception:  # the I/O loop is gone: no turn can commit any more
            report()

    def on_stop(self) -> None:
        if self._turn is not None:
            self._turn.run.detached = True  # stopped (retired, mob stopped): its turn reports nothing
        super().on_stop()

    def on_receive(self, message: Any) -> Any:
        if message is DRAIN:  # the supervisor routed envelopes to this member
            for envelope in self.mailbox.take_all():
                self.deliver(envelope)
        elif isinstance(message, OpenLive):
            self.open_live()
        elif isinstance(message, _TurnDone):
            self._turn_done(message)
        elif isinstance(message, _RetryDue):
            if message.fence == self.identity.fence_token:
                self._backing_off = False
                self._start_next_turn()
        elif isinstance(message, _Crash):
            raise RuntimeError(f"member {self.identity.name} crashed: {message.reason}")
        return None

    def crash(self, reason: str = "crash requested") -> None:
        """Fail as if an exception escaped (chaos drills and tests): the supervisor restarts the member."""
        self.actor_ref.tell(_Crash(reason))

    def info(self) -> dict[str, Any]:
        channel = self._open_channel()
        return {"name": self.identity.name, "role": self.identity.role, "generation": self.identity.generation,
                "fence_token": self.identity.fence_token, "session_id": self.session.id,
                "busy": self._turn is not None, "queued": len(self._inbox),
                "live_channel_id": channel.channel_id if channel else None,
                "live_status": channel.status.status if channel else None, "idle": self.session.idle}

    # -- inbox --------------------------------------------------------------------------------------
    def deliver(self, envelope: Envelope) -> None:
        """Take a routed message: into the live conversation, the running turn (steer), or the inbox."""
        if envelope.id in self._in_history:  # committed by an earlier incarnation, its ack lost with it
            self._ack((envelope.id,))
            return
        if not envelope.starts_turn:
            row = _opening_row(envelope)
            if not self.live_inject(row, False):
                self._context.append(row)
            self._ack((envelope.id,))
            return
        # The history row is built only where it is used now: a queued message gets its row when its turn starts.
        if self._open_channel() is not None and self.live_inject(_opening_row(envelope), True):
            self._ack((envelope.id,))  # it is in the live conversation; it lands in history at the boundary
            return
        if envelope.handling_mode == "steer" and self._turn is not None:
            entry = (envelope, _opening_row(envelope))
            steered = self._turn.run.steered
            steered.append(entry)  # before the session can take it: the commit must find it there
            if self.session.steer(entry[1]):
                return
            steered.pop()
        self._inbox.append(envelope)
        self._start_next_turn()

    def _start_next_turn(self) -> None:
        if self._turn is not None or self._backing_off or not (self._inbox or self._carry):
            return
        batch = list(self._inbox)
        self._inbox.clear()
        opening = [*self._context, *(row for _, row in self._carry), *(_opening_row(e) for e in batch)]
        run = TurnRun((*(e for e, _ in self._carry), *batch), self._context)
        self._context, self._carry = [], []
        fence, name, generation = self.identity.fence_token, self.identity.name, self.identity.generation
        events, supervisor = self.events, self.supervisor

        def committed(result: TurnResult, ids: list[str]) -> None:  # on the I/O loop, right after the commit
            try:
                events.append("turn_committed", member=name, generation=generation, messages=len(result.rows),
                              text=result.text, source="turn", message_ids=ids)
                supervisor.tell({"consumed": name, "fence": fence, "ids": ids})
            except Exception:  # the commit stands whatever happens here; never turn it into a failure
                log.exception("member %s: could not acknowledge a committed turn", name)

        channel = self._open_channel()
        turn: Callable[[], Awaitable[TurnResult]] = (
            partial(self._live_turn, channel, opening) if channel is not None
            else partial(self.session.run_turn_async, opening))
        self._runtime.start()
        future = self._runtime.submit(run.run(turn, committed))
        self._turn = _Turn(fence, run, future)
        me = self.actor_ref

        def report(done: concurrent.futures.Future[TurnResult]) -> None:
            try:
                me.tell(_TurnDone(fence, done))
            except pykka.ActorDeadError:
                pass  # the member was stopped or crashed while the turn ran: nobody is left to tell

        future.add_done_callback(report)

    def _turn_done(self, done: _TurnDone) -> None:
        turn = self._turn
        if done.fence != self.identity.fence_token or turn is None or turn.future is not done.future:
            return  # a stale reply from another incarnation
        self._turn = None
        missed = self.session.take_unconsumed_steers()
        carried = [(e, row) for e, row in turn.run.steered if any(row is m for m in missed)]
        taken = [e for e, row in turn.run.steered if not any(row is m for m in missed)]
        try:
            done.future.result()
        except concurrent.futures.CancelledError:
            if self._cancel_requested is done.future:  # force_cancel: its messages are consumed, not retried
                self._cancelled(turn.run, [*turn.run.envelopes, *taken, *(e for e, _ in carried)])
                return
            # the I/O loop is shutting down: keep them, start nothing
            self._requeue(turn.run, [*turn.run.envelopes, *taken, *(e for e, _ in carried)])
            return
        except Exception as exc:
            self._turn_failed(turn.run, taken, carried, exc)
        else:  # its messages were acknowledged by the commit itself (TurnRun.run)
            self._committed_turns += 1
            for envelope in (*turn.run.envelopes, *taken):
                self._attempts.pop(envelope.id, None)
            self._carry += carried
            self.supervisor.tell({"turn_committed": self.identity.name, "fence": self.identity.fence_token})
        self._start_next_turn()

    def cancel_turn(self) -> bool:
        """``mob/force_cancel``: cancel the running turn (inbox or ``turn/start``); it commits nothing, its
        messages count as consumed, the member stays and takes its next message. False when idle."""
        if self._request_turn is not None and self._request_turn.future is not None \
                and not self._request_turn.future.done():
            return self.interrupt_turn()
        if self._turn is None or self._turn.future.done():
            return False
        self._cancel_requested = self._turn.future
        self._runtime.call_soon(self._turn.run.abandon, _nothing)  # its future ends once the task has ended
        return True

    def reply_targets(self) -> list[dict[str, str]]:
        """The peer messages and requests that opened the running turn (what ``reply_to_peer`` answers)."""
        if self._turn is None:
            return []
        envelopes = [*self._turn.run.envelopes, *(e for e, _ in self._turn.run.steered)]
        return [{"id": e.id, "sender": e.sender, "kind": e.kind, "handling_mode": e.handling_mode}
                for e in envelopes if e.sender != "operator" and e.kind in ("message", "request")]

    def _cancelled(self, run: TurnRun, envelopes: list[Envelope]) -> None:
        self._cancel_requested = None
        self._context = [*run.context, *self._context]  # notices that rode on it land with the next turn
        self._ack(tuple(e.id for e in envelopes))
        self.events.append("turn_cancelled", member=self.identity.name, generation=self.identity.generation,
                           message_ids=[e.id for e in envelopes])
        self._start_next_turn()

    def _turn_failed(self, run: TurnRun, taken: list[Envelope], carried: list[tuple[Envelope, HistoryRow]],
                     exc: Exception) -> None:
        """Retry the failed turn's messages (first in the inbox, in order) or dead-letter them."""
        name, kind = self.identity.name, failure_kind(exc)
        failed = [*run.envelopes, *taken]
        self.events.append("turn_failed", member=name, error=str(exc), kind=kind,
                           message_ids=[e.id for e in failed])
        retry: list[Envelope] = []
        dead: list[str] = []
        for envelope in failed:
            attempts = self._attempts.get(envelope.id, 0) + 1
            if attempts < self.delivery_attempts:
                self._attempts[envelope.id] = attempts
                retry.append(envelope)
                continue
            self._attempts.pop(envelope.id, None)
            dead.append(envelope.id)
            self.events.append("message_dead_lettered", member=name, message_id=envelope.id,
                               sender=envelope.sender, receiver=envelope.receiver, kind=envelope.kind,
                               attempts=attempts, reason=kind, error=str(exc))
        self._ack(tuple(dead))
        self._requeue(run, [*retry, *(e for e, _ in carried)])
        if retry:
            self._back_off(retry_delay(max(self._attempts[e.id] for e in retry)))

    def _back_off(self, delay_s: float) -> None:
        """Start no turn for ``delay_s``: a failing provider or a reconnecting channel gets time to recover."""
        self._backing_off = True
        me, due = self.actor_ref, _RetryDue(self.identity.fence_token)

        def wake() -> None:
            try:
                me.tell(due)
            except pykka.ActorDeadError:
                pass  # stopped or crashed meanwhile: a restarted member gets its messages redelivered

        self._runtime.start()
        self._runtime.call_soon(self._runtime.loop.call_later, delay_s, wake)

    def _requeue(self, run: TurnRun, envelopes: list[Envelope]) -> None:
        """Messages of a turn that did not commit go back first in line, in order; so do its notices."""
        self._inbox.extendleft(reversed(envelopes))
        self._context = [*run.context, *self._context]

    def _ack(self, ids: tuple[str, ...]) -> None:
        if ids:
            self.supervisor.tell({"consumed": self.identity.name, "fence": self.identity.fence_token,
                                  "ids": list(ids)})



def _nothing() -> None:
    """A forced cancel reports through the turn's own future, not through ``TurnRun.abandon``."""


def _opening_row(envelope: Envelope) -> HistoryRow:
    """Operator input is a plain user row; peer traffic is a typed comms notice."""
    return UserRow(content=envelope.body) if envelope.sender == "operator" else envelope.to_row()
