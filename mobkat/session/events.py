"""Turn progress events: the sink a turn reports to, and the hub every session's events pass through.

The event shapes live in :mod:`mobkat.wire.events` (shared with the client SDK). Each event a session
emits is stamped once by the :class:`EventHub` of its services (event id, per-session ``seq``, time) and
handed to the turn's own sink and to every subscriber of that session (``session/stream_open``, mob
streams), so all of them see the same envelope.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from mobkat.ids import new_event_id
from mobkat.wire.events import EventEnvelope, EventSource
from mobkat.wire.events import EventType as EventType
from mobkat.wire.events import SessionEvent as SessionEvent

log = logging.getLogger(__name__)

EventSink = Callable[[SessionEvent], None]
EnvelopeListener = Callable[[EventEnvelope], None]
SessionFilter = Callable[[str], bool]


def ignore_event(_event: SessionEvent) -> None:
    """The default sink."""


class EnvelopeSink:
    """A turn sink that wants each event's full envelope (the RPC server's ``session/event``)."""

    def __init__(self, listener: EnvelopeListener) -> None:
        self.listener = listener

    def __call__(self, event: SessionEvent) -> None:
        """Unused: turns hand it envelopes through :func:`deliver`."""


def deliver(sink: EventSink, envelope: EventEnvelope) -> None:
    """Hand ``envelope`` to a turn's sink: the envelope to an :class:`EnvelopeSink`, else its payload."""
    if isinstance(sink, EnvelopeSink):
        sink.listener(envelope)
    else:
        sink(envelope.payload)


def _only(session_id: str) -> SessionFilter:
    def accepts(candidate: str) -> bool:
        return candidate == session_id

    return accepts


class Subscription:
    """One hub listener; :meth:`cancel` stops delivery (idempotent)."""

    def __init__(self, hub: EventHub, key: int) -> None:
        self._hub = hub
        self._key = key

    def cancel(self) -> None:
        self._hub._drop(self._key)


class EventHub:
    """Stamps every session event into an envelope and fans it out to subscribers. Thread-safe.

    Listeners run on the thread that emits (the I/O loop for turns) and must not block; one that raises
    is logged and kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        self._listeners: dict[int, tuple[SessionFilter, EnvelopeListener]] = {}
        self._keys = itertools.count()

    def stamp(self, session_id: str, payload: SessionEvent) -> EventEnvelope:
        """The envelope of the session's next event (``seq`` 1, 2, ... per session)."""
        with self._lock:
            seq = self._seq.get(session_id, 0) + 1
            self._seq[session_id] = seq
        return EventEnvelope(event_id=new_event_id(), source=EventSource(type="session", session_id=session_id),
                             seq=seq, timestamp_ms=int(time.time() * 1000), payload=payload)

    def publish(self, session_id: str, payload: SessionEvent) -> EventEnvelope:
        """Stamp ``payload`` and deliver it to the session's subscribers; the envelope."""
        envelope = self.stamp(session_id, payload)
        with self._lock:
            listeners = [listener for wants, listener in self._listeners.values() if wants(session_id)]
        for listener in listeners:
            try:
                listener(envelope)
            except Exception:  # one broken subscriber must not cost the turn or the others
                log.exception("an event subscriber of session %s failed", session_id)
        return envelope

    def subscribe(self, wants: SessionFilter | str, listener: EnvelopeListener) -> Subscription:
        """Deliver the events of one session (by id) or of every session ``wants(session_id)`` accepts."""
        accepts = _only(wants) if isinstance(wants, str) else wants
        with self._lock:
            key = next(self._keys)
            self._listeners[key] = (accepts, listener)
        return Subscription(self, key)

    def _drop(self, key: int) -> None:
        with self._lock:
            self._listeners.pop(key, None)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._listeners)
