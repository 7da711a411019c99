"""What a member host sends its mob's head: reports and events, in order, one Ray call per burst.

A peer message's turn on a host makes several small messages for the head (its ``turn_committed`` event, the
``consumed`` report, …). Each as its own Ray call would cost a call apiece; here they queue in one
:class:`HeadOutbox` and a flusher thread sends whatever has queued as one ``take`` call. Order is kept:
everything is submitted under one lock, by whichever thread flushes, and Ray runs one caller's calls to the
head in the order they were submitted. A member's own questions to the supervisor (its comms tools' ``route``,
``peers_of``) flush first (:class:`FlushingProxy`), so the head has seen every event before it routes.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

from mobkat.engine.remote import RemoteProxy
from mobkat.mob.events import EventType

log = logging.getLogger(__name__)
Item = tuple[str, Any, Any]
"""``("report", message, None)`` or ``("event", type, fields)``."""


class HeadOutbox:
    """One host's queue to the head actor."""

    def __init__(self, head: Any, *, autoflush: bool = True) -> None:
        """``autoflush=False``: no flusher thread, only :meth:`flush` sends (for tests of the ordering)."""
        self._head = head
        self._items: deque[Item] = deque()
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._run, name="mobkat-head-outbox", daemon=True)
        if autoflush:
            self._flusher.start()

    def put(self, item: Item) -> None:
        self._items.append(item)  # deque.append is atomic: any thread
        self._wake.set()

    def flush(self) -> None:
        """Send what has queued, now, on this thread (before anything this thread sends the head next)."""
        with self._send_lock:
            batch: list[Item] = []
            while self._items:
                batch.append(self._items.popleft())
            if batch:
                self._head.take.remote(batch)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the head is restarting or gone: Ray raises on submit only for a dead handle
                log.exception("member host: cannot send reports and events to the mob's head")

    def close(self) -> None:
        """Send what is left and stop the flusher."""
        self._closed.set()
        self._wake.set()
        if self._flusher.is_alive():
            self._flusher.join(timeout=5.0)
        self.flush()


class HeadMailbox:
    """A member's reports, queued for the head (see :class:`HeadOutbox`)."""

    def __init__(self, outbox: HeadOutbox) -> None:
        self._outbox = outbox

    def tell(self, message: Any) -> None:
        self._outbox.put(("report", message, None))


class HeadEvents:
    """A member's events, queued for the mob's log in the head."""

    def __init__(self, outbox: HeadOutbox) -> None:
        self._outbox = outbox

    def append(self, type: EventType, **fields: Any) -> int:
        self._outbox.put(("event", type, fields))
        return 0  # the cursor is the head's to give; nothing on a host reads it


class FlushingProxy(RemoteProxy):
    """The supervisor as a member's tools ask it, after everything the host queued for the head was sent."""

    def __init__(self, outbox: HeadOutbox, head: Any, what: str) -> None:
        super().__init__(head, "call", what=what)
        self._outbox = outbox

    def __getattr__(self, method: str) -> Any:
        call = super().__getattr__(method)

        def flushed(*args: Any) -> Any:
            self._outbox.flush()
            return call(*args)

        return flushed


__all__ = ["FlushingProxy", "HeadEvents", "HeadMailbox", "HeadOutbox"]
