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
import logging
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mobkat.errors import (
    DefinitionFileRefusedError,
    MobExistsError,
    MobNotFoundError,
    StreamNotFoundError,
)
from mobkat.mob.definition import JSON_SOURCE, MobDefinition
from mobkat.mob.events import MobEvent
from mobkat.mob.mob import Mob
from mobkat.mob.trust import DefinitionTrust
from mobkat.rpc.hosted_mob import HostedMob
from mobkat.rpc.mob_params import StreamEndParams
from mobkat.rpc.mob_seats import RayPlacement
from mobkat.rpc.realms import SessionDirectory
from mobkat.rpc.registry import Notify
from mobkat.session import SessionServices
from mobkat.store.mob_records import MemoryMobRecordStore, MobRecordStore

log = logging.getLogger(__name__)
DEFINITION_LOADERS = 2
"""Threads that read and check ``mob/create`` definitions (their own pool: a flood cannot take the shared one)."""
DEFINITION_LOAD_TIMEOUT_S = 10.0
"""A ``mob/create`` whose definition is not read and checked within this is refused."""


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
