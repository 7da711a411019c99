"""A sender that finds a member's inbox full waits (bounded) for room, as upstream's in-process senders do.

The supervisor refuses a full inbox at once (``InboxFullError``), so its thread never blocks. The
*sender* (``Mob.send``/``send_peer``, a member's comms tool, ``mob/member_send``) waits on an
:class:`InboxRoom`: the supervisor calls :meth:`InboxRoom.freed` whenever a member consumed messages,
and each waiting sender tries again. After ``wait_s`` (default 30 s, upstream's acknowledgement
timeout) the sender gets the typed ``InboxFullError``, saying how long it waited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mobkat.errors import InboxFullError, InvalidInputError
from mobkat.mob.messages import Envelope

INBOX_WAIT_S = 30.0
"""How long a sender waits for room in a full inbox before the refusal (``Mob(inbox_wait_s=...)``)."""


class InboxRoom:
    """Wakes the senders waiting for room in an inbox of one mob (only those waiting for that member).

    :meth:`freed` runs on the supervisor's thread for every consumed batch: it only bumps the member's
    counter, and takes the lock only when somebody waits (a waiter registers under the lock, then
    re-checks the counter before it sleeps, so no wake-up is lost)."""

    def __init__(self, wait_s: float = INBOX_WAIT_S) -> None:
        if not wait_s >= 0:
            raise InvalidInputError(f"inbox_wait_s must be 0 or more seconds (got {wait_s!r})",
                                    details={"inbox_wait_s": wait_s})
        self.wait_s = wait_s
        self._cond = threading.Condition()
        self._versions: dict[str, int] = {}
        self._waiters = 0

    def freed(self, member: str) -> None:
        """``member`` consumed messages: its inbox may have room again (only the supervisor calls this)."""
        self._versions[member] = self._versions.get(member, 0) + 1
        if self._waiters:
            with self._cond:
                self._cond.notify_all()

    def route(self, route: Callable[[Envelope], str], envelope: Envelope, max_wait_s: float | None = None) -> str:
        """``route(envelope)``; while it answers ``InboxFullError``, wait for room and try again, at most
        :attr:`wait_s` (or ``max_wait_s`` if smaller) in all. Other refusals (not wired, not found, ...) are
        raised at once."""
        wait_s = self.wait_s if max_wait_s is None else min(self.wait_s, max_wait_s)
        deadline = time.monotonic() + wait_s
        versions, receiver = self._versions, envelope.receiver
        while True:
            seen = versions.get(receiver, 0)
            try:
                return route(envelope)
            except InboxFullError as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise InboxFullError(
                        f"{exc.message} (waited {wait_s:g} s for room)",
                        details={**exc.details, "waited_s": wait_s, "message_id": envelope.id}) from None
            with self._cond:
                self._waiters += 1
                try:
                    self._cond.wait_for(lambda seen=seen: versions.get(receiver, 0) != seen,  # type: ignore[misc]
                                        remaining)
                finally:
                    self._waiters -= 1


__all__ = ["INBOX_WAIT_S", "InboxRoom"]
