"""A member's live observations, streamed from its member host to the driver.

``mob.member(name).live.subscribe(observer)`` on the Ray engine: the host subscribes to the member's channel
and keeps what it observes in a bounded buffer per subscription (:class:`ObservationBuffer`); one thread of
the driver (:class:`RemoteLiveFeed`) long-polls it and calls the observer with each observation, in order,
on that thread. A consumer that falls more than ``FEED_CAPACITY`` observations behind loses the oldest ones
(counted and logged, never silently): the buffer on the host never grows without bound. The feed ends when
the channel closes (its last observation), when the member's incarnation ends, or when the mob stops.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from mobkat.engine.remote import RemoteFuture
from mobkat.live.wire import LiveErrorObservation, Observation, StatusChanged

log = logging.getLogger(__name__)
FEED_CAPACITY = 4096
"""Observations a host keeps per subscription for its reader (audio chunks of ~40 ms: nearly three minutes)."""
POLL_WAIT_S = 1.0


class ObservationBuffer:
    """One subscription's observations on the host, numbered from 1 (thread-safe)."""

    def __init__(self, capacity: int = FEED_CAPACITY) -> None:
        self._items: deque[tuple[int, Observation]] = deque(maxlen=capacity)
        self._next = 1
        self._cond = threading.Condition()
        self.ended = False
        self.dropped = 0

    def add(self, observation: Observation) -> None:
        with self._cond:
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append((self._next, observation))
            self._next += 1
            if _final(observation):
                self.ended = True
            self._cond.notify_all()

    def end(self) -> None:
        with self._cond:
            self.ended = True
            self._cond.notify_all()

    def after(self, cursor: int, wait_s: float) -> tuple[int, list[Observation], bool]:
        """Observations numbered after ``cursor`` (waiting up to ``wait_s`` for one), the new cursor, and whether
        the feed has ended with them."""
        with self._cond:
            self._cond.wait_for(lambda: self._next - 1 > cursor or self.ended, timeout=wait_s)
            fresh = [(number, item) for number, item in self._items if number > cursor]
            new_cursor = fresh[-1][0] if fresh else cursor
            return new_cursor, [item for _, item in fresh], self.ended and new_cursor == self._next - 1


def _final(observation: Observation) -> bool:
    """The channel's last observation: an error (terminal), or its status turning ``closed``."""
    return isinstance(observation, LiveErrorObservation) or (
        isinstance(observation, StatusChanged) and observation.status.status == "closed")


class RemoteLiveFeed:
    """The driver's side: polls a host's buffer and calls ``observer`` with each observation, in order."""

    def __init__(self, host: Any, subscription: str, member: str, observer: Callable[[Observation], None]) -> None:
        self._host = host
        self._subscription = subscription
        self._member = member
        self._observer = observer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mobkat-live-feed-{member}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        cursor = 0
        while not self._stop.is_set():
            try:
                cursor, observations, ended = RemoteFuture(
                    self._host.live_observations.remote(self._subscription, cursor, POLL_WAIT_S),
                    f"live observations of {self._member}").get(POLL_WAIT_S + 30.0)
            except Exception as exc:  # the host is gone (node lost, mob stopped): the channel is gone with it
                if not self._stop.is_set():
                    log.warning("member %s: its live feed ended: %s", self._member, exc)
                return
            for observation in observations:
                try:
                    self._observer(observation)
                except Exception:  # one observer's failure must not end the feed for the others
                    log.exception("member %s: a live observer failed", self._member)
            if ended:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30.0)
        if self._thread.is_alive():
            log.warning("member %s: its live feed is still in a Ray call after 30 s", self._member)


__all__ = ["FEED_CAPACITY", "ObservationBuffer", "RemoteLiveFeed"]
