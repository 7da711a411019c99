"""The realm's mobs as the RPC server hosts them.

A hosted mob shares the server's :class:`~mobkat.session.SessionServices`, so member sessions live in
the realm's store; every member's session actor is adopted into the server's
:class:`~mobkat.rpc.realms.SessionDirectory` (re-adopted when the supervisor restarts it), so
``live/*``, ``turn/start`` and ``session/history`` reach members by session id. Blocking mob calls
run off the event loop (``asyncio.to_thread``). Event streams follow a mob's ``EventLog`` with
``afollow`` (never blocking the loop) and end when the client closes them, the mob stops, or the
connection goes away. Mobs are kept in the realm's mob record store (``mobs.db``): :meth:`MobDirectory.restore_all`
brings them back when the server starts (see docs/mobs.md, "Persistence").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import functools
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pykka

from mobkat.actor import SessionHandle
from mobkat.errors import (
    DefinitionFileRefusedError,
    MemberNotFoundError,
    MobError,
    MobExistsError,
    MobkatError,
    MobNotFoundError,
    ProfileNotFoundError,
    ResourceExhaustedError,
    StreamNotFoundError,
    UnsupportedMethodError,
)
from mobkat.mob.definition import JSON_SOURCE, MobDefinition
from mobkat.mob.events import MobEvent
from mobkat.mob.lifecycle import LifecycleAction, require_running
from mobkat.mob.mob import Mob
from mobkat.mob.trust import DefinitionTrust
from mobkat.rpc.mob_params import MobStatus, SpawnSpec, StreamEndParams
from mobkat.rpc.realms import SessionDirectory, SessionEntry, while_restarting
from mobkat.rpc.registry import Notify
from mobkat.session import SessionServices
from mobkat.store.mob_records import MemoryMobRecordStore, MobRecordStore

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFINITION_LOADERS = 2
"""Threads that read and check ``mob/create`` definitions (their own pool: a flood cannot take the shared one)."""
DEFINITION_LOAD_TIMEOUT_S = 10.0
"""A ``mob/create`` whose definition is not read and checked within this is refused."""


@dataclass(frozen=True)
class RayPlacement:
    """``mobkat rpc --ray ADDRESS``: where the mobs clients create run (their histories: ``store_dsn``, else
    SQLite under ``state_root``; docs/distributed.md)."""

    address: str
    store_dsn: str | None = field(default=None, repr=False)
    state_root: Path | None = None


def remote_session(mob_id: str, name: str) -> UnsupportedMethodError:
    """Why a member of a mob on the Ray engine has no served session."""
    return UnsupportedMethodError(
        f"member {name} of mob {mob_id} runs on a Ray node: its session is driven through mob/* methods (mob/send, "
        "mob/events, mob/member_status, …), not served to session/* or live/* in this version (docs/distributed.md)",
        details={"mob_id": mob_id, "agent_identity": name, "reason": "ray_engine"})


Seat = tuple[SessionHandle, str, str, int]
"""A member's session actor, session id, role and generation, all read from ONE incarnation."""


def read_seat(mob: Mob, name: str) -> Seat:
    """The member's current seat (blocking: asks the supervisor once for the actor, then that actor).

    Everything comes from the same actor: a respawn or restart in between must not pair one incarnation's
    session id with another's actor. A dead actor raises ``pykka.ActorDeadError`` (it is being restarted)."""
    member = mob.member(name)
    ref = member.ref
    info = ref.proxy().info().get(timeout=member.timeout)
    return (SessionHandle(ref, timeout=member.timeout), str(info["session_id"]), str(info["role"]),
            int(info["generation"]))


def _spawn_seated(mob: Mob, spec: SpawnSpec) -> tuple[str, Seat]:
    """Spawn and find the new member's seat in ONE worker thread (blocking), so no thread has to start
    between "spawned" and "served". If the seat cannot be found the spawn is undone, so a failure is never
    reported for a member that stays in the roster."""
    name = mob.spawn(spec.profile, spec.agent_identity, spec.initial_text(), runtime_mode=spec.runtime_mode,
                     labels=spec.labels)
    try:
        return name, read_seat(mob, name)
    except Exception as exc:
        try:
            mob.retire(name)
        except Exception as undo:
            raise MobError(f"member {name} was spawned but cannot be served ({exc}), and retiring it failed "
                           f"({undo}): it stays in the roster; retire it with mob/retire",
                           details={"mob_id": mob.id, "agent_identity": name}) from exc
        raise


async def run_at_most_once(fn: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread(fn, *args)``, but a call that raised on the caller's side never runs later.

    The executor queues the call before it starts a worker thread; when starting that thread fails (out of
    threads) the caller gets the error while the queued call would still run once a worker frees up, doing
    what was reported as not done. Here whoever comes first wins: the worker (then its outcome is the
    answer) or the caller giving up (then the call never runs)."""
    lock = threading.Lock()
    state = "pending"
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    def work() -> None:
        nonlocal state
        with lock:
            if state != "pending":
                return
            state = "running"
        try:
            outcome.set_result(fn(*args))
        except BaseException as exc:
            outcome.set_exception(exc)

    try:
        await asyncio.to_thread(work)
    except Exception:
        with lock:
            if state == "pending":
                state = "abandoned"
                raise
    return await asyncio.wrap_future(outcome)  # the call ran, or runs now on a worker that freed up


def resource_exhausted(exc: BaseException, doing: str) -> ResourceExhaustedError | None:
    """``exc`` as a typed error if it says the process ran out of threads, memory or file descriptors."""
    if isinstance(exc, MemoryError):
        problem = "out of memory"
    elif isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        problem = "out of threads (can't start new thread)"
    elif isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE):
        problem = f"out of an OS resource ({exc.strerror or exc})"
    else:
        return None
    return ResourceExhaustedError(f"{doing}: the server ran {problem}, so it was not done. Retry later, or "
                                  "raise the process limits (ulimit -u / -n, memory)",
                                  details={"error": f"{type(exc).__name__}: {exc}"})


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
            name, seat = await run_at_most_once(_spawn_seated, mob, spec)
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
            if event.type in ("mob_stopped", "mob_destroyed"):  # the mob-wide stream ends with its mob's run
                return

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

    def __init__(self, services: SessionServices, sessions: SessionDirectory, *,
                 definitions_root: Path | None = None, allow_python_tools: Sequence[str] = (),
                 tool_timeout_s: float = 30.0, records: MobRecordStore | None = None,
                 ray: RayPlacement | None = None) -> None:
        self.services = services
        self.ray = ray
        """``--ray``: the cluster the mobs clients create run on (none: in this process)."""
        self.sessions = sessions
        self.records: MobRecordStore = records if records is not None else MemoryMobRecordStore()
        """The realm's mob records (``mobs.db`` beside ``sessions.db``): what :meth:`restore_all` restores."""
        self.trust = DefinitionTrust.from_client(definitions_root=definitions_root,
                                                 allow_python_tools=allow_python_tools)
        """What definitions sent by clients may reach (``--definitions-root``, ``--allow-python-tools``)."""
        self.tool_timeout_s = tool_timeout_s
        self.mobs: dict[str, HostedMob] = {}
        self.streams: dict[str, MobStream] = {}
        self._loaders = ThreadPoolExecutor(DEFINITION_LOADERS, thread_name_prefix="mobkat-definitions")

    def read_definition(self, definition: dict[str, Any] | None, path: str | None) -> MobDefinition:
        """The JSON form, or a TOML file inside ``--definitions-root`` (relative paths: to it), checked with
        the clients' trust (blocking: file reads and checks)."""
        catalog = self.services.catalog
        if path is not None:
            return MobDefinition.from_toml(path, catalog=catalog, trust=self.trust)
        return MobDefinition.from_dict(definition or {}, catalog=catalog, trust=self.trust)

    async def load_definition(self, definition: dict[str, Any] | None, path: str | None) -> MobDefinition:
        """:meth:`read_definition` in the directory's own small thread pool (never the loop, never the shared
        workers), within ``DEFINITION_LOAD_TIMEOUT_S``."""
        work = asyncio.get_running_loop().run_in_executor(self._loaders, self.read_definition, definition, path)
        try:
            return await asyncio.wait_for(work, DEFINITION_LOAD_TIMEOUT_S)
        except TimeoutError:
            raise DefinitionFileRefusedError(path or JSON_SOURCE, None, "", (
                f"refused: reading and checking the definition took longer than {DEFINITION_LOAD_TIMEOUT_S:g} s"
            )) from None

    async def create(self, definition: MobDefinition) -> HostedMob:
        """Start a mob (nothing spawned) sharing the server's services."""
        if definition.id in self.mobs:
            raise MobExistsError(
                f"mob already exists: {definition.id} ({self.mobs[definition.id].status}); destroy it with "
                "mob/lifecycle destroy first, or give the definition another id", details={"mob_id": definition.id})
        if await asyncio.to_thread(self.records.get_mob, definition.id) is not None:
            raise MobExistsError(
                f"mob already exists: {definition.id} (its record is in the realm's mob store but it could not be "
                "restored: see the server log); give the definition another id", details={"mob_id": definition.id})
        return await self._start(definition)

    async def _start(self, definition: MobDefinition) -> HostedMob:
        """Start (or, with a stored record, restore) a mob sharing the server's services."""
        if self.ray is not None:  # the mob's own head keeps its record, under the state root
            mob = Mob(definition, services=self.services, tool_timeout_s=self.tool_timeout_s, engine="ray",
                      ray_address=self.ray.address, store_dsn=self.ray.store_dsn, state_root=self.ray.state_root)
        else:
            mob = Mob(definition, services=self.services, tool_timeout_s=self.tool_timeout_s, records=self.records)
        hosted = HostedMob(mob, self.sessions)
        self.mobs[definition.id] = hosted
        try:
            await hosted.run(mob.start)
        except BaseException:
            del self.mobs[definition.id]
            raise
        hosted.start_following()
        return hosted

    async def restore_all(self) -> list[str]:
        """At server start: every stored mob back (a Running one with its members on their sessions, served
        by id); a mob whose definition or record cannot be read is logged and left stored. Returns the ids."""
        restored = []
        for record in await asyncio.to_thread(self.records.list_mobs):
            if record.mob_id in self.mobs:
                continue
            try:
                definition = await asyncio.get_running_loop().run_in_executor(
                    self._loaders, lambda r=record: MobDefinition.from_dict(  # type: ignore[misc]
                        r.definition, base_dir=r.base_dir, catalog=self.services.catalog, trust=self.trust))
                hosted = await self._start(definition)
                await hosted.adopt_all()
            except Exception as exc:  # the other mobs come back regardless
                log.error("mob %s: cannot restore it: %s", record.mob_id, exc)
                continue
            restored.append(record.mob_id)
        return restored

    def get(self, mob_id: str) -> HostedMob:
        hosted = self.mobs.get(mob_id)
        if hosted is None:
            raise MobNotFoundError(f"mob not found: {mob_id} (mobs in this realm: "
                                   f"{', '.join(sorted(self.mobs)) or 'none'})", details={"mob_id": mob_id})
        return hosted

    async def destroy(self, mob_id: str) -> None:
        hosted = self.get(mob_id)
        await hosted.lifecycle("destroy")
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
        self._loaders.shutdown(wait=False, cancel_futures=True)
        hosted, self.mobs = list(self.mobs.values()), {}
        for one in hosted:
            try:
                one.mob.stop()
            except Exception:  # stopping must go on for the others
                log.exception("stopping mob %s", one.id)
