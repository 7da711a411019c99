"""A mob member's session entry follows its actor across restarts, even one that dies again at once."""

from __future__ import annotations

import asyncio

import pykka
import pytest

from mobkat.actor import SessionHandle
from mobkat.errors import SessionBusyError
from mobkat.rpc.realms import REVIVE_ATTEMPTS, SessionEntry
from mobkat.session import Session, SessionServices


def test_a_successor_that_died_again_is_looked_up_until_one_answers(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    dead = SessionHandle.start(session)
    stale = SessionEntry(dead, session.id, revive=lambda: revive())
    dead.stop()
    alive = SessionHandle.start(Session.load(services, session.id))
    lookups: list[int] = []

    async def revive() -> SessionEntry:
        lookups.append(1)
        if len(lookups) < 3:  # the supervisor has not restarted it yet: the incarnation it names is dead
            raise pykka.ActorDeadError("member died again")
        return SessionEntry(alive, session.id)

    try:
        entry = asyncio.run(stale.current())
        assert entry.handle is alive and len(lookups) == 3
    finally:
        alive.stop()


def test_a_member_that_never_comes_back_is_a_typed_restarting_error(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    dead = SessionHandle.start(session)

    async def revive() -> SessionEntry:
        raise pykka.ActorDeadError("still dead")

    stale = SessionEntry(dead, session.id, revive=revive)
    dead.stop()
    with pytest.raises(SessionBusyError, match="is restarting") as refused:
        asyncio.run(stale.current())
    assert refused.value.details == {"session_id": session.id, "restarting": True}
    assert REVIVE_ATTEMPTS > 1
