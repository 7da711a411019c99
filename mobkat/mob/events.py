"""Mob events: every state change as a typed event with a per-mob cursor; resumable with no gaps."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from mobkat.errors import InvalidInputError

EventType = Literal[
    "mob_started",
    "mob_stopped",
    # lifecycle and persistence (mobkat.mob.lifecycle, mobkat.mob.persistence)
    "mob_resumed",
    "mob_completed",
    "mob_reset",
    "mob_destroyed",
    "mob_restored",
    "member_restored",
    "mob_shutdown",
    "member_spawned",
    "member_retired",
    "member_restarted",
    "member_broken",
    "member_stop_failed",
    "members_wired",
    "members_unwired",
    "peer_message_routed",
    "peer_message_rejected",
    "turn_committed",
    "turn_failed",
    "message_dead_lettered",
    "live_opened",
    "live_closed",
    "live_failed",
    "user_transcript",
    "transcript_delta",
    "assistant_transcript",
    # flow runs (mobkat.mob.flow_engine), upstream's names and fields
    "flow_started",
    "step_dispatched",
    "step_target_completed",
    "step_target_failed",
    "step_completed",
    "step_failed",
    "step_skipped",
    "flow_completed",
    "flow_failed",
    "flow_canceled",
    # member calls (mobkat.mob.member_ops): mob/force_cancel, mob/append_system_context
    "turn_cancelled",
    "system_context_appended",
]


_EVENT_TYPES = frozenset(get_args(EventType))
_Raw = tuple[int, float, str, dict[str, Any]]  # cursor, time.time(), type, fields


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventKind(BaseModel):
    """``{"type": ..., <fields>}``: the tagged payload of a mob event."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: EventType


class MobEvent(BaseModel):
    """``{cursor, timestamp, mob_id, kind}`` — the Meerkat ``mob/events`` shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cursor: int
    timestamp: str
    mob_id: str
    kind: EventKind

    @property
    def type(self) -> str:
        return self.kind.type

    def get(self, field: str, default: Any = None) -> Any:
        return (self.kind.model_extra or {}).get(field, default)

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(slots=True)
class _AsyncWaiter:
    """One :meth:`EventLog.afollow`: its loop, its wake-up flag, and whether a wake-up is already on its way."""

    loop: asyncio.AbstractEventLoop
    flag: asyncio.Event
    pending: bool = False


def _claim(waiters: list[_AsyncWaiter]) -> list[_AsyncWaiter]:
    """The waiters with no wake-up on its way yet, marked as having one (call under the log's lock): a burst
    of appends costs one ``call_soon_threadsafe`` per waiter, not one per event."""
    woken = [waiter for waiter in waiters if not waiter.pending]
    for waiter in woken:
        waiter.pending = True
    return woken


class EventLog:
    """Append-only, thread-safe log. Cursors start at 1 and increase by one: no gaps, ever.

    Keeps (at least) the newest ``capacity`` events; resuming from a cursor older than the oldest kept one
    is a typed error. Appending is cheap because it sits on the message-routing path: an event is kept
    as a plain tuple and becomes a :class:`MobEvent` when read (a log of pydantic objects also made every
    garbage collection walk them), and old events are dropped in batches, not one list shift per append.
    """

    def __init__(self, mob_id: str, capacity: int = 100_000) -> None:
        self.mob_id = mob_id
        self._events: list[_Raw] = []
        self._first_cursor = 1
        self._capacity = capacity
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._sleepers = 0  # threads in follow() waiting on _cond: only then is notify_all worth its cost
        self._closed = False
        self._waiters: list[_AsyncWaiter] = []
        self.sink: Callable[[_Raw], None] | None = None
        """Called with every appended event, under the log's lock (so in cursor order): the durable journal."""

    def preload(self, stored: Sequence[_Raw]) -> None:
        """Start from stored events (a restored mob): their cursors are kept, new ones continue after them."""
        with self._lock:
            if self._events:
                raise InvalidInputError(f"mob {self.mob_id}: preload is only for an empty log")
            kept = list(stored)[-self._capacity:]
            start = len(kept) - 1
            while start > 0 and kept[start - 1][0] == kept[start][0] - 1:
                start -= 1
            kept = kept[max(start, 0):]  # cursors have no gaps: only the contiguous newest run is kept
            self._events = kept
            self._first_cursor = kept[0][0] if kept else 1

    @property
    def latest(self) -> int:
        with self._lock:
            return self._latest()

    def _latest(self) -> int:
        """The newest cursor (0 before the first event); call with the lock held (it is not reentrant)."""
        return self._first_cursor + len(self._events) - 1

    def append(self, type: EventType, **fields: Any) -> int:
        """Record an event now; returns its cursor."""
        if type not in _EVENT_TYPES:
            raise InvalidInputError(f"mob {self.mob_id}: {type!r} is not a mob event type")
        with self._lock:  # the condition's own lock, taken directly: this is the routing hot path
            cursor = self._first_cursor + len(self._events)
            woken = self._push((cursor, time.time(), type, fields))
        if woken:
            for waiter in woken:
                waiter.loop.call_soon_threadsafe(waiter.flag.set)
        return cursor

    def _push(self, raw: _Raw) -> list[_AsyncWaiter] | None:
        """Keep one event numbered ``latest + 1`` and wake the followers (call with the lock held)."""
        self._events.append(raw)
        if self.sink is not None:
            self.sink(raw)
        if len(self._events) > self._capacity + self._capacity // 8 + 1:
            drop = len(self._events) - self._capacity
            del self._events[:drop]
            self._first_cursor += drop
        if self._sleepers:
            self._cond.notify_all()
        return _claim(self._waiters) if self._waiters else None

    def mirror(self, stored: Sequence[_Raw]) -> None:
        """Append events another log numbered, keeping their cursors (the Ray engine's driver mirrors the log of
        the mob's head actor). Events already here are skipped; the first one of an empty log sets its start."""
        woken: list[_AsyncWaiter] | None = None
        with self._lock:
            for raw in stored:
                if not self._events:
                    self._first_cursor = raw[0]
                elif raw[0] != self._latest() + 1:
                    continue
                woken = self._push(raw) or woken
        if woken:
            for waiter in woken:
                waiter.loop.call_soon_threadsafe(waiter.flag.set)

    def raw_after(self, cursor: int, limit: int = 1000) -> list[_Raw]:
        """The stored form of the events after ``cursor`` (at most ``limit``), oldest first; none beyond the latest."""
        with self._lock:
            start = max(cursor + 1 - self._first_cursor, 0)
            return self._events[start:start + limit]

    def _event(self, raw: _Raw) -> MobEvent:
        cursor, seconds, type, fields = raw
        return MobEvent(cursor=cursor, mob_id=self.mob_id, timestamp=_timestamp(seconds),
                        kind=EventKind(type=type, **fields))

    def after(self, cursor: int = 0, limit: int | None = None) -> list[MobEvent]:
        """Events with a cursor greater than ``cursor``, oldest first."""
        with self._cond:
            if cursor < 0 or cursor > self._first_cursor + len(self._events) - 1:
                raise InvalidInputError(f"mob {self.mob_id}: cursor {cursor} is beyond the latest event "
                                        f"({self._first_cursor + len(self._events) - 1})")
            if cursor + 1 < self._first_cursor:
                raise InvalidInputError(f"mob {self.mob_id}: cursor {cursor} is older than the oldest kept event "
                                        f"({self._first_cursor}); resume from {self._first_cursor - 1}",
                                        details={"kind": "stale_cursor", "oldest": self._first_cursor})
            start = cursor + 1 - self._first_cursor
            selected = self._events[start:start + limit] if limit is not None else self._events[start:]
        return [self._event(raw) for raw in selected]

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            waiters = list(self._waiters)
        for waiter in waiters:
            waiter.loop.call_soon_threadsafe(waiter.flag.set)

    def follow(self, after: int = 0, *, timeout: float | None = None) -> Iterator[MobEvent]:
        """Yield events after ``after`` as they happen; ends when the log closes or ``timeout`` s pass idle."""
        cursor = after
        while True:
            batch = self.after(cursor)
            for event in batch:
                cursor = event.cursor
                yield event
            if batch:
                continue
            with self._cond:
                if self._closed:
                    return
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._latest() <= cursor and not self._closed:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return
                    self._sleepers += 1
                    try:
                        self._cond.wait(remaining)
                    finally:
                        self._sleepers -= 1

    async def afollow(self, after: int = 0, *, timeout: float | None = None) -> AsyncIterator[MobEvent]:
        """The async form of :meth:`follow` (waits on the caller's loop, never blocking it)."""
        waiter = _AsyncWaiter(asyncio.get_running_loop(), asyncio.Event())
        flag = waiter.flag
        with self._cond:
            self._waiters.append(waiter)
        cursor = after
        try:
            while True:
                with self._lock:
                    waiter.pending = False  # from here on, an append schedules a wake-up again
                flag.clear()
                batch = self.after(cursor)
                for event in batch:
                    cursor = event.cursor
                    yield event
                if batch:
                    continue
                if self._closed:
                    return
                try:
                    await asyncio.wait_for(flag.wait(), timeout)
                except TimeoutError:
                    return
        finally:
            with self._cond:
                self._waiters.remove(waiter)
