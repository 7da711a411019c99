"""Turn progress events (pushed as ``session/event`` notifications by the RPC server).

The event shape lives in :mod:`mobkat.wire.events` (shared with the client SDK); this module adds the sink type.
"""

from __future__ import annotations

from collections.abc import Callable

from mobkat.wire.events import EventType as EventType
from mobkat.wire.events import SessionEvent as SessionEvent

EventSink = Callable[[SessionEvent], None]


def ignore_event(_event: SessionEvent) -> None:
    """The default sink."""
