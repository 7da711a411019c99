"""The realm's mobs as the RPC server hosts them.

A hosted mob shares the server's :class:`~mobkat.session.SessionServices`, so member sessions live in
the realm's store; every member's session actor is adopted into the server's
:class:`~mobkat.rpc.realms.SessionDirectory` (re-adopted when the supervisor restarts it), so
``live/*``, ``turn/start`` and ``session/history`` reach members by session id. Blocking mob calls
run off the event loop (``asyncio.to_thread``). Event streams follow a mob's ``EventLog`` with
``afollow`` (never blocking the loop) and end when the client closes them, the mob stops, or the
connection goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mobkat.actor import SessionHandle
from mobkat.errors import (
    MemberNotFoundError,
    MobExistsError,
    MobkatError,
    MobNotFoundError,
    MobNotRunningError,
    ProfileNotFoundError,
    StreamNotFoundError,
)
from mobkat.mob.definition import MobDefinition
from mobkat.mob.events import MobEvent
from mobkat.mob.mob import Mob
from mobkat.rpc.mob_params import MobStatus, SpawnSpec, StreamEndParams
from mobkat.rpc.realms import SessionDirectory, SessionEntry
from mobkat.rpc.registry import Notify
from mobkat.session import SessionServices

log = logging.getLogger(__name__)
T = TypeVar("T")


def _seat(mob: Mob, name: str) -> tuple[SessionHandle, str, str]:
    """The member's session actor, session id and role (blocking: asks the supervisor and the member)."""
    member = mob.member(name)
    info = member.info()
    return member.session(), str(info["session_id"]), str(info["role"])


class HostedMob:
    """One mob of this server: the running :class:`Mob`, its status and its members' adopted sessions."""

    def __init__(self, mob: Mob, sessions: SessionDirectory) -> None:
        self.mob = mob
        self.sessions = sessions
        self.status: MobStatus = "Running"
        self.entries: dict[str, SessionEntry] = {}
        self.roles: dict[str, str] = {}
        self.broken: dict[str, str] = {}
        self.claimed: set[str] = set()
        """Live channels handed to RPC hosts (a second ``mob/member_live_open`` on one is refused)."""
        self.snapshot: list[dict[str, Any]] = []
        """The roster when the mob stopped (``mob/members`` of a stopped mob)."""
        self._follower: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        return self.mob.id

    def start_following(self) -> None:
        self._follower = asyncio.create_task(self._follow(self.mob.events_log.latest))

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call a blocking :class:`Mob` method without blocking the event loop."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def require_running(self, operation: str) -> Mob:
        if self.status != "Running":
            raise MobNotRunningError(
                f"invalid state transition: mob {self.id} is {self.status}, so {operation} is refused; reads "
                "(mob/status, mob/members, mob/events) still work, and mob/lifecycle destroy removes it",
                details={"mob_id": self.id, "status": self.status, "operation": operation})
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
        return await self.entries[name].current()

    # -- members ----------------------------------------------------------------------------------------
    async def spawn(self, spec: SpawnSpec) -> str:
        mob = self.require_running("spawn")
        if spec.profile not in mob.definition.profiles:
            raise ProfileNotFoundError(
                f"profile not found: {spec.profile} (mob {self.id} has profiles: "
                f"{', '.join(mob.definition.profiles)})", details={"mob_id": self.id, "profile": spec.profile})
        name = await self.run(mob.spawn, spec.profile, spec.agent_identity, spec.initial_text(),
                              runtime_mode=spec.runtime_mode, labels=spec.labels)
        await self.adopt(name)
        return name

    async def adopt(self, name: str) -> SessionEntry:
        """Serve the member's (new) session actor from the realm's session directory."""
        handle, session_id, role = await self.run(_seat, self.mob, name)
        old = self.entries.get(name)
        if old is not None and old.session_id != session_id:
            await self.sessions.retire(old.session_id)
        self.entries[name] = entry = self.sessions.adopt(handle, session_id, revive=lambda: self.adopt(name))
        self.roles[name] = role
        self.broken.pop(name, None)
        return entry

    async def forget(self, name: str) -> None:
        """A retired member: its session is no longer served through the mob."""
        self.roles.pop(name, None)
        self.broken.pop(name, None)
        entry = self.entries.pop(name, None)
        if entry is not None:
            await self.sessions.retire(entry.session_id)

    async def members(self) -> list[dict[str, Any]]:
        if self.status == "Running":
            return await self.run(self.mob.members)
        return self.snapshot

    async def _follow(self, after: int) -> None:
        """Keep the directory in step with supervisor restarts and breakdowns."""
        async for event in self.mob.aevents(after):
            name = event.get("member")
            if event.type == "member_restarted" and name in self.entries:
                try:
                    await self.adopt(name)
                except MobkatError as exc:
                    log.warning("mob %s: cannot serve restarted member %s: %s", self.id, name, exc)
            elif event.type == "member_broken" and name is not None:
                self.broken[name] = str(event.get("error") or "restart limit reached")

    # -- lifecycle --------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Stop every member (closing live channels); the roster and events stay readable."""
        if self.status == "Stopped":
            return
        self.status = "Stopped"
        try:
            self.snapshot = await self.run(self.mob.members)
        except MobkatError:
            self.snapshot = []
        await self.run(self.mob.stop)
        for entry in self.entries.values():
            await self.sessions.retire(entry.session_id)
        self.entries.clear()
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower


class MobStream:
    """``mob/stream_event`` notifications of one mob (optionally about one member) to one connection."""

    def __init__(self, stream_id: str, hosted: HostedMob, member: str | None, notify: Notify,
                 connection_closed: asyncio.Event) -> None:
        self.stream_id = stream_id
        self.hosted = hosted
        self.member = member
        self._notify = notify
        self._connection_closed = connection_closed
        self._close = asyncio.Event()
        self.ended = False
        self.task = asyncio.create_task(self._run(hosted.mob.events_log.latest))

    def concerns(self, event: MobEvent) -> bool:
        if self.member is None:
            return True
        return self.member in (event.get(key) for key in ("member", "a", "b", "sender", "receiver"))

    async def _pump(self, after: int) -> None:
        sequence = 0
        async for event in self.hosted.mob.aevents(after):
            if self.concerns(event):
                sequence += 1
                self._notify("mob/stream_event", {"stream_id": self.stream_id, "sequence": sequence,
                                                  "event": event.to_wire()})

    async def _run(self, after: int) -> None:
        pump = asyncio.create_task(self._pump(after))
        close = asyncio.create_task(self._close.wait())
        gone = asyncio.create_task(self._connection_closed.wait())
        try:
            await asyncio.wait({pump, close, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, close, gone):
                task.cancel()
            await asyncio.gather(pump, close, gone, return_exceptions=True)
            self.ended = True
        if not self._connection_closed.is_set():
            reason = "closed" if self._close.is_set() else "mob_stopped"
            end = StreamEndParams(stream_id=self.stream_id, reason=reason)
            self._notify("mob/stream_end", end.model_dump(exclude_none=True))

    async def close(self) -> bool:
        """End the stream; False if it had already ended."""
        was_open = not self.ended
        self._close.set()
        await asyncio.shield(self.task)
        return was_open


class MobDirectory:
    """The mobs hosted by this server, by id, and their open event streams."""

    def __init__(self, services: SessionServices, sessions: SessionDirectory, *, base_dir: Path | None = None,
                 tool_timeout_s: float = 30.0) -> None:
        self.services = services
        self.sessions = sessions
        self.base_dir = base_dir
        self.tool_timeout_s = tool_timeout_s
        self.mobs: dict[str, HostedMob] = {}
        self.streams: dict[str, MobStream] = {}

    def load_definition(self, definition: dict[str, Any] | None, path: str | None) -> MobDefinition:
        """The JSON form, or a TOML file (relative paths: to ``--context-root``, else the server's cwd)."""
        base = self.base_dir or Path.cwd()
        catalog = self.services.catalog
        if path is not None:
            return MobDefinition.from_toml(base / Path(path).expanduser(), catalog=catalog)
        return MobDefinition.from_dict(definition or {}, base_dir=base, catalog=catalog)

    async def create(self, definition: MobDefinition) -> HostedMob:
        """Start a mob (nothing spawned) sharing the server's services."""
        if definition.id in self.mobs:
            raise MobExistsError(
                f"mob already exists: {definition.id} ({self.mobs[definition.id].status}); destroy it with "
                "mob/lifecycle destroy first, or give the definition another id", details={"mob_id": definition.id})
        mob = Mob(definition, services=self.services, tool_timeout_s=self.tool_timeout_s)
        hosted = HostedMob(mob, self.sessions)
        self.mobs[definition.id] = hosted
        try:
            await hosted.run(mob.start)
        except BaseException:
            del self.mobs[definition.id]
            raise
        hosted.start_following()
        return hosted

    def get(self, mob_id: str) -> HostedMob:
        hosted = self.mobs.get(mob_id)
        if hosted is None:
            raise MobNotFoundError(f"mob not found: {mob_id} (mobs in this realm: "
                                   f"{', '.join(sorted(self.mobs)) or 'none'})", details={"mob_id": mob_id})
        return hosted

    async def destroy(self, mob_id: str) -> None:
        hosted = self.get(mob_id)
        await hosted.stop()
        self.mobs.pop(mob_id, None)

    def open_stream(self, hosted: HostedMob, member: str | None, notify: Notify,
                    connection_closed: asyncio.Event) -> MobStream:
        stream = MobStream(str(uuid.uuid4()), hosted, member, notify, connection_closed)
        self.streams[stream.stream_id] = stream
        stream.task.add_done_callback(lambda _task: self._reap_later(stream))
        return stream

    def _reap_later(self, stream: MobStream) -> None:
        """Ended streams are kept a while so a late ``mob/stream_close`` answers ``already_closed``."""
        asyncio.get_running_loop().call_later(60.0, self.streams.pop, stream.stream_id, None)

    def stream(self, stream_id: str) -> MobStream:
        stream = self.streams.get(stream_id)
        if stream is None:
            raise StreamNotFoundError(f"mob stream not found: {stream_id}", details={"stream_id": stream_id})
        return stream

    def stop_all(self) -> None:
        """Stop every mob (blocking; at shutdown, from outside the event loop while it still runs)."""
        hosted, self.mobs = list(self.mobs.values()), {}
        for one in hosted:
            try:
                one.mob.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping mob %s", one.id)
