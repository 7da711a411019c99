"""Adoptions of one mob member race; the served incarnation is always the newest, and none stops another.

Under CPU contention the event follower's adoption of a restarted member (``member_restarted``) can read
its seat before a ``mob/respawn`` and serve it after the respawn's own adoption. Serving that stale seat
used to "retire" the respawned session's entry, which stopped the respawned member's actor, and the
respawn then failed with ``ActorDeadError`` (the CI failure of stop 9).
"""

from __future__ import annotations

import asyncio

from mobkat.mob import Mob, MobDefinition
from mobkat.rpc.hosted_mob import HostedMob
from mobkat.rpc.mob_seats import read_seat
from mobkat.rpc.realms import SessionDirectory
from mobkat.session import SessionServices

DESK = {"id": "desk", "profiles": {"fact": {"model": "gpt-5.5", "runtime_mode": "turn_driven"}}}


def test_a_seat_read_before_a_respawn_and_served_after_it_changes_nothing(services: SessionServices) -> None:
    with Mob(MobDefinition.from_dict(DESK), services=services) as mob:
        mob.spawn("fact", "a")

        async def go() -> None:
            hosted = HostedMob(mob, SessionDirectory(services))
            await hosted.adopt("a")
            stale = await hosted.run(read_seat, mob, "a")  # the follower read generation 0 ...
            await hosted.run(mob.respawn, "a")
            fresh = await hosted.adopt("a")  # ... the respawn served generation 1 ...
            served = hosted.serve("a", stale)  # ... then the follower serves what it read
            assert served is fresh and hosted.entries["a"] is fresh
            assert fresh.handle.ref.is_alive(), "serving a stale seat stopped the respawned member"
            assert (await fresh.call("session_info"))["session_id"] == fresh.session_id != stale[1]
            assert not hosted.sessions.loaded(stale[1])

        asyncio.run(go())
        assert mob.member("a").info()["generation"] == 1


def test_retiring_a_member_does_not_stop_the_actor_that_now_holds_its_name(services: SessionServices) -> None:
    """The directory only unlists a retired member's session: its actor is the supervisor's to stop."""
    with Mob(MobDefinition.from_dict(DESK), services=services) as mob:
        mob.spawn("fact", "a")

        async def go() -> None:
            hosted = HostedMob(mob, SessionDirectory(services))
            old = await hosted.adopt("a")
            await hosted.run(mob.retire, "a")
            assert not old.handle.ref.is_alive()  # the supervisor stopped it
            await hosted.forget("a")
            assert not hosted.sessions.loaded(old.session_id) and "a" not in hosted.entries

        asyncio.run(go())
