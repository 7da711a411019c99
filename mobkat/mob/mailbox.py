"""Routed envelopes handed to an actor in bursts: one ``tell`` per burst instead of one per message.

Every ``tell`` goes through the actor's ``queue.Queue`` (a lock, a condition, a wake-up), and with
several threads passing messages under one GIL those locks convoy. A :class:`Mailbox` is a deque the
sender appends to; it tells the owning actor :data:`DRAIN` only when no drain is already on its way,
and the actor takes everything queued so far in one go. Order is kept per producer: the supervisor is
a member mailbox's only producer; the supervisor's inbound one takes ``Mob.send_peer_nowait`` from any
thread (a second ``DRAIN`` that two producers raced to send finds the deque empty: harmless).

No wake-up is ever lost: :meth:`Mailbox.post` appends *before* it looks at the flag, and
:meth:`Mailbox.take_all` clears the flag *before* it empties the deque, so an envelope is either taken
by the drain in progress or announced by a new ``DRAIN``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

import pykka

from mobkat.mob.messages import Envelope


class _Drain:
    """Take everything in your mailbox now."""

    def __repr__(self) -> str:
        return "DRAIN"


DRAIN: Final = _Drain()


class Mailbox:
    """The envelopes waiting for one actor incarnation (a restarted member gets a new one)."""

    __slots__ = ("_drain_told", "_items")

    def __init__(self) -> None:
        self._items: deque[Envelope] = deque()
        self._drain_told = False

    def post(self, envelope: Envelope, owner: pykka.ActorRef[Any]) -> None:
        """Queue ``envelope`` for ``owner``; raises ``pykka.ActorDeadError`` if ``owner`` is dead."""
        self._items.append(envelope)
        if not self._drain_told:
            self._drain_told = True
            owner.tell(DRAIN)

    def take_all(self) -> list[Envelope]:
        """Everything queued so far, oldest first (the owner calls this on :data:`DRAIN`)."""
        self._drain_told = False
        items = self._items
        taken = []
        while items:
            taken.append(items.popleft())
        return taken
