"""One mob of the server (:class:`HostedMob`): the running mob, its status, and its members' served sessions,
kept in step with restarts, respawns and retirements by an event follower."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

import pykka

from mobkat.errors import (
    MemberNotFoundError,
    MobkatError,
    ProfileNotFoundError,
)
from mobkat.mob.lifecycle import LifecycleAction, require_running
from mobkat.mob.mob import Mob
from mobkat.rpc.mob_params import MobStatus, SpawnSpec
from mobkat.rpc.mob_seats import Seat, T, read_seat, remote_session, resource_exhausted, run_at_most_once, spawn_seated
from mobkat.rpc.realms import SessionDirectory, SessionEntry, while_restarting

log = logging.getLogger(__name__)


class HostedMob:
    """One mob of this server: the running :class:`Mob`, its status and its members' adopted sessions."""

    def __init__(self, mob: Mob, sessions: SessionDirectory) -> None:
        self.mob = mob
        self.sessions = sessions
        self.entries: dict[str, SessionEntry] = {}
        self.generations: dict[str, int] = {}
        """The generation of each member's served incarnation (a stale adoption never replaces a newer one)."""
        self.roles: dict[str, str] = {}
        self.broken: dict[str, str] = {}
        self.claimed: set[str] = set()
        """Live channels handed to RPC hosts (a second ``mob/member_live_open`` on one is refused)."""
        self._follower: asyncio.Task[None] | None = None
        self.remote = mob.engine == "ray"
        """Its members run on a Ray cluster: no member session is served here (only mob/* methods reach them)."""

    @property
    def id(self) -> str:
        return self.mob.id

    @property
    def status(self) -> MobStatus:
        """The mob's lifecycle state (``Running``, ``Stopped``, ``Completed``)."""
        return self.mob.state

    def start_following(self) -> None:
        self._follower = asyncio.create_task(self._follow(self.mob.events_log.latest))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a blocking :class:`Mob` method without blocking the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def require_running(self, operation: str) -> Mob:
        require_running(self.id, self.mob.state, operation)
        return self.mob

    def role_of(self, name: str) -> str:
        role = self.roles.get(name)
        if role is None:
            raise MemberNotFoundError(
                f"mob member not found: {name} (mob {self.id} has: {', '.join(sorted(self.roles)) or 'no members'})",
                details={"mob_id": self.id, "agent_identity": name})
        return role

    async def entry(self, name: str) -> SessionEntry:
        """The member's session actor as the server reaches it; after a crash, the restarted one even if
        the event follower has not adopted it yet (a call right after ``member_restarted`` must not fail)."""
        self.role_of(name)
        if self.remote:
            raise remote_session(self.id, name)
        return await self.entries[name].current()

    # -- members ----------------------------------------------------------------------------------------
    async def spawn(self, spec: SpawnSpec) -> str:
        mob = self.require_running("spawn")
        if spec.profile not in mob.definition.profiles:
            raise ProfileNotFoundError(
                f"profile not found: {spec.profile} (mob {self.id} has profiles: "
                f"{', '.join(mob.definition.profiles)})", details={"mob_id": self.id, "profile": spec.profile})
        if self.remote:
            name = await run_at_most_once(functools.partial(
                mob.spawn, spec.profile, spec.agent_identity, spec.initial_text(), runtime_mode=spec.runtime_mode,
                labels=spec.labels))
            self.roles[name] = spec.profile
            return name
        try:
            name, seat = await run_at_most_once(spawn_seated, mob, spec)
        except MobkatError:
            raise
        except Exception as exc:  # e.g. RuntimeError "can't start new thread" from the member's actor
            exhausted = resource_exhausted(exc, f"spawning member {spec.agent_identity or spec.profile}")
            if exhausted is None:
                raise
            raise exhausted from exc
        self.serve(name, seat)
        return name

    async def adopt(self, name: str) -> SessionEntry:
        """Serve the member's current session actor from the realm's session directory (raises
        ``pykka.ActorDeadError`` if that actor died before it answered: its supervisor restarts it)."""
        if self.remote:  # nothing to serve: only its role is known here
            view = next((v for v in await self.members() if v["name"] == name), None)
            if view is None:
                raise MemberNotFoundError(f"mob member not found: {name} (mob {self.id})",
                                          details={"mob_id": self.id, "agent_identity": name})
            self.roles[name] = str(view["role"])
            raise remote_session(self.id, name)
        return self.serve(name, await self.run(read_seat, self.mob, name))

    async def adopt_restarting(self, name: str) -> SessionEntry:
        """:meth:`adopt`, looked up again a few times while the member is being restarted."""
        return await while_restarting(f"member {name} of mob {self.id}", lambda: self.adopt(name),
                                      mob_id=self.id, agent_identity=name)

    def serve(self, name: str, seat: Seat) -> SessionEntry:
        """Serve a seat (see :func:`read_seat`) unless a later incarnation is already served: adoptions of
        one member race (the event follower's after a restart, a respawn's, a revive's), and a seat read
        before a respawn may arrive after it. Synchronous, so atomic on the loop."""
        handle, session_id, role, generation = seat
        old = self.entries.get(name)
        if old is not None and self.generations.get(name, -1) > generation:
            return old  # a stale seat: the member moved on while it was read
        if old is not None and old.session_id != session_id:
            # Only unlisted: member actors belong to the supervisor, which stopped the old one. Stopping
            # it here could stop the current incarnation, if a stale seat paired it with the old session.
            self.sessions.release(old.session_id)
        self.entries[name] = entry = self.sessions.adopt(handle, session_id, revive=lambda: self.adopt(name))
        self.generations[name] = generation
        self.roles[name] = role
        self.broken.pop(name, None)
        return entry

    async def forget(self, name: str) -> None:
        """A retired member: its session is no longer served through the mob."""
        self.roles.pop(name, None)
        self.broken.pop(name, None)
        self.generations.pop(name, None)
        entry = self.entries.pop(name, None)
        if entry is not None:
            self.sessions.release(entry.session_id)  # mob.retire stopped its actor (the supervisor owns it)

    async def members(self) -> list[dict[str, Any]]:
        return await self.run(self.mob.members)

    async def _follow(self, after: int) -> None:
        """Keep the directory in step with supervisor restarts and breakdowns."""
        async for event in self.mob.aevents(after):
            name = event.get("member")
            if self.remote:  # no sessions served: only the roles are tracked
                if event.type == "member_spawned" and isinstance(name, str):
                    self.roles[name] = str(event.get("role"))
                elif event.type == "member_broken" and name is not None:
                    self.broken[name] = str(event.get("error") or "restart limit reached")
                elif event.type == "member_retired" and isinstance(name, str):
                    await self._forget_retired(name)
                continue
            if event.type == "member_restarted" and name in self.entries:
                try:
                    await self.adopt(name)
                except (MobkatError, pykka.ActorDeadError) as exc:  # dead: it crashed again, and the next
                    # member_restarted adopts its next incarnation; this follower must outlive it
                    log.warning("mob %s: cannot serve restarted member %s: %s", self.id, name, exc)
            elif event.type == "member_broken" and name is not None:
                self.broken[name] = str(event.get("error") or "restart limit reached")
            elif event.type == "member_spawned" and isinstance(name, str) and name not in self.roles:
                try:  # spawned by a member's mob tools (tools.mob), not through this directory: serve it too
                    await self.adopt(name)
                except (MobkatError, pykka.ActorDeadError) as exc:  # already gone again, or restarting
                    log.warning("mob %s: cannot serve spawned member %s: %s", self.id, name, exc)
            elif (event.type == "member_retired" and isinstance(name, str)
                  and self.generations.get(name) == event.get("generation")):
                await self._forget_retired(name)

    async def _forget_retired(self, name: str) -> None:
        """Retired by a member's mob tools (after ``mob/retire`` this is a no-op): stop serving it, unless it
        was spawned again since."""
        try:
            if name in {view["name"] for view in await self.members()}:
                return
        except MobkatError:  # the mob is going away: nothing is served any more
            return
        await self.forget(name)

    # -- lifecycle --------------------------------------------------------------------------------------
    async def adopt_all(self) -> None:
        """Serve every member of the roster (a restored or resumed mob)."""
        if self.remote:
            self.roles.update({str(view["name"]): str(view["role"]) for view in await self.members()})
            return
        for view in await self.run(self.mob.members):
            try:
                await self.adopt(view["name"])
            except (MobkatError, pykka.ActorDeadError) as exc:
                log.warning("mob %s: cannot serve restored member %s: %s", self.id, view["name"], exc)

    async def lifecycle(self, action: LifecycleAction) -> None:
        """Apply a lifecycle action (:mod:`mobkat.mob.lifecycle`) and keep the served sessions in step."""
        if action == "destroy":
            await self.run(self.mob.lifecycle, action)
            await self._release(forget=True)
            if self._follower is not None:
                self._follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._follower
            return
        await self.run(self.mob.lifecycle, action)
        await self._release(forget=action != "stop")
        if self.mob.state == "Running":  # resumed (or reset: nobody to serve yet)
            await self.adopt_all()

    async def _release(self, *, forget: bool) -> None:
        """Stop serving the members' actors (their sessions stay readable by id); ``forget``: the roles too."""
        entries, self.entries = list(self.entries.values()), {}
        for entry in entries:
            await self.sessions.retire(entry.session_id)
        if forget:
            self.roles.clear()
            self.broken.clear()


__all__ = ["HostedMob"]
