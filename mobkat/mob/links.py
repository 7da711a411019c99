"""What a member reports to, wherever it runs: its supervisor's mailbox and the mob's event log.

In one process these are the supervisor's pykka ref and the :class:`~mobkat.mob.events.EventLog` itself; on a
Ray node (``mobkat.engine``) they are links that forward to the mob's head actor, in order.
"""

from __future__ import annotations

from typing import Any, Protocol

from mobkat.mob.events import EventType


class SupervisorMailbox(Protocol):
    """Takes a member's reports (dicts carrying its fence token) without waiting."""

    def tell(self, message: Any) -> None: ...


class EventAppender(Protocol):
    """Appends one event to the mob's log."""

    def append(self, type: EventType, **fields: Any) -> int: ...


def consumed_message_ids(rows: list[Any]) -> set[str]:
    """The ids of the peer messages a history already holds (their ``comms`` blocks' ``message_id``): a message
    redelivered to a member restarted elsewhere after its turn committed is acknowledged, not run twice."""
    ids: set[str] = set()
    for row in rows:
        for block in getattr(row, "blocks", None) or ():
            message_id = block.get("message_id") if isinstance(block, dict) else None
            if isinstance(message_id, str):
                ids.add(message_id)
    return ids


__all__ = ["EventAppender", "SupervisorMailbox", "consumed_message_ids"]
