"""Ids made on hot paths: unique across processes, yet no system call per id.

Each process draws a random prefix once (and again in every forked child, which must not hand out its
parent's next ids) and counts from a random start. ``uuid.uuid4()`` would read ``os.urandom`` per id: a
system call that releases the GIL, so a busy thread could stall the caller at every peer message and event.
"""

from __future__ import annotations

import itertools
import os

_COUNTER_LIMIT = 1 << 48  # the counter is the last 12 hex digits of an event id


class _IdSource:
    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        random = os.urandom(12).hex()  # 24 hex digits
        self.message_prefix = random[:16]
        variant = "89ab"[int(random[18], 16) & 3]  # RFC 4122 variant bits: 10xx
        self.event_prefix = f"{random[:8]}-{random[8:12]}-4{random[12:15]}-{variant}{random[15:18]}-"
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big") << 12)


_SOURCE = _IdSource()
os.register_at_fork(after_in_child=_SOURCE.renew)


def new_message_id() -> str:
    """32 hex digits, unique like ``uuid4().hex``: the process's random prefix and its counter."""
    return f"{_SOURCE.message_prefix}{next(_SOURCE.counter):016x}"


def new_event_id() -> str:
    """A canonical lowercase UUID (version 4 layout, as upstream's SDK requires of ``event_id``): the process's
    random prefix (74 random bits) and its counter."""
    return f"{_SOURCE.event_prefix}{next(_SOURCE.counter) % _COUNTER_LIMIT:012x}"
