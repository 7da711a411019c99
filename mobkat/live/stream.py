"""A thread-safe, bounded record of a channel's observations that callers can wait on."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

from mobkat.live.wire import Observation

Predicate = Callable[[Observation], bool]


class ObservationStream:
    """Subscribe it to a channel (it is callable); read with :meth:`next` / :meth:`wait_for` / iteration.

    Keeps at most ``maxlen`` unread observations; when a slow reader lets it fill up, the oldest are
    dropped and counted in :attr:`dropped` (never silently: the count is there to check).
    """

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[Observation] = deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self._history: deque[Observation] = deque(maxlen=maxlen)
        self.dropped = 0

    def __call__(self, observation: Observation) -> None:
        with self._cond:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(observation)
            self._history.append(observation)
            self._cond.notify_all()

    def next(self, timeout: float = 10.0) -> Observation:
        """The next unread observation; ``TimeoutError`` if none arrives in time."""
        return self.wait_for(lambda _o: True, timeout)

    def wait_for(self, predicate: Predicate | str, timeout: float = 10.0) -> Observation:
        """Consume observations up to and including the first that matches (a predicate or a tag name)."""
        match = (lambda o: o.observation == predicate) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                while self._items:
                    observation = self._items.popleft()
                    if match(observation):
                        return observation
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching live observation within {timeout:g} s")
                self._cond.wait(remaining)

    def seen(self) -> list[Observation]:
        """Every observation received (read or not), oldest first, up to ``maxlen``."""
        with self._cond:
            return list(self._history)

    def __iter__(self) -> Iterator[Observation]:
        """Blocking iteration; stops after 30 s without an observation or after a terminal one."""
        while True:
            try:
                observation = self.next(timeout=30.0)
            except TimeoutError:
                return
            yield observation
            if observation.observation == "error" or (
                observation.observation == "status_changed" and observation.status.status == "closed"
            ):
                return
