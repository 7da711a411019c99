"""Realms and the server's session actors.

A realm is a named scope of sessions and state: ``<state_root>/realms/<realm_id>/sessions.db``.
A server serves exactly one realm, so one realm never sees another's sessions. Sessions get a
:class:`~mobkat.actor.SessionActor` when first addressed (after a restart they are loaded lazily
from the store, so committed history is always readable).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pykka

from mobkat.actor import ASK_TIMEOUT, SessionHandle
from mobkat.errors import InvalidInputError, SessionArchivedError, SessionBusyError, SessionNotFoundError
from mobkat.rpc.options import Backend
from mobkat.rpc.realm_lock import RealmLock
from mobkat.session import Session, SessionServices
from mobkat.store import SESSIONS_DB, MemorySessionStore, PostgresSessionStore, SessionStore, SqliteSessionStore
from mobkat.store.postgres import realm_schema

STATE_ROOT_ENV = "MOBKAT_STATE_ROOT"
REALM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def default_state_root() -> Path:
    """``$MOBKAT_STATE_ROOT`` if set, else ``~/.mobkat/state``."""
    env = os.environ.get(STATE_ROOT_ENV)
    return Path(env) if env else Path.home() / ".mobkat" / "state"


def check_realm_id(realm_id: str) -> str:
    if not REALM_ID.fullmatch(realm_id) or ".." in realm_id:
        raise InvalidInputError(
            f"realm id {realm_id!r} is not valid: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit", details={"realm_id": realm_id})
    return realm_id


@dataclass(frozen=True)
class Realm:
    """Where this server's sessions live."""

    realm_id: str
    state_root: Path
    backend: Backend = "sqlite"
    isolated: bool = False
    store_dsn: str | None = field(default=None, repr=False)  # may hold a password
    """The PostgreSQL database of the ``postgres`` backend (its sessions: schema ``realm_schema(realm_id)``)."""

    @classmethod
    def resolve(cls, *, realm_id: str | None, isolated: bool, state_root: Path | None,
                backend: Backend = "sqlite", store_dsn: str | None = None) -> Realm:
        """``--realm ID`` names a shared realm; without it (or with ``--isolated``) each start is a new one."""
        if realm_id is not None and isolated:
            raise InvalidInputError("--realm and --isolated cannot be used together: pick one")
        root = state_root if state_root is not None else default_state_root()
        if realm_id is None:
            return cls(f"isolated-{uuid.uuid4().hex[:16]}", root, backend, isolated=True, store_dsn=store_dsn)
        return cls(check_realm_id(realm_id), root, backend, store_dsn=store_dsn)

    @property
    def root(self) -> Path:
        return self.state_root / "realms" / self.realm_id

    @property
    def database(self) -> Path | None:
        """The SQLite file of the sessions (``None`` unless the backend is sqlite)."""
        return self.root / SESSIONS_DB if self.backend == "sqlite" else None

    @property
    def keeps_files(self) -> bool:
        """Whether the realm has a directory (its lock and mob records): every backend but memory."""
        return self.backend != "memory"

    def open_store(self) -> SessionStore:
        if self.backend == "postgres":
            if not self.store_dsn:
                raise InvalidInputError("the postgres backend needs the database: --store-dsn DSN",
                                        details={"flag": "--store-dsn"})
            return PostgresSessionStore(self.store_dsn, schema=realm_schema(self.realm_id))
        database = self.database
        return MemorySessionStore() if database is None else SqliteSessionStore(database)

    def lock(self) -> RealmLock | None:
        """Take the realm's server lock (``RealmLockedError`` if another server holds it).

        Only a realm with files (sqlite or postgres, isolated or not) has one: a ``memory`` realm keeps
        nothing on disk that two servers could share, so it takes no lock."""
        if not self.keeps_files:
            return None
        return RealmLock.acquire(self.root, realm_id=self.realm_id)


REVIVE_ATTEMPTS = 5
REVIVE_BACKOFF_S = 0.05
T = TypeVar("T")


async def while_restarting(what: str, find: Callable[[], Awaitable[T]], **details: Any) -> T:
    """``find()``, called again a few times while it raises ``pykka.ActorDeadError`` (an actor that
    someone restarts, e.g. a mob member crashing twice in a row); then a typed "restarting" error."""
    for attempt in range(REVIVE_ATTEMPTS):
        try:
            return await find()
        except pykka.ActorDeadError:
            await asyncio.sleep(REVIVE_BACKOFF_S * (attempt + 1))  # its supervisor is restarting it
    raise SessionBusyError(f"{what} is restarting (its actor crashed); try again",
                           details={**details, "restarting": True})


class SessionEntry:
    """A session actor as the server reaches it: every call runs off the event loop."""

    def __init__(self, handle: SessionHandle, session_id: str,
                 revive: Callable[[], Awaitable[SessionEntry]] | None = None) -> None:
        self.handle = handle
        self.session_id = session_id
        self.revive = revive
        """For an actor someone else restarts (a mob member): the entry of its current incarnation."""
        self._proxy = handle.ref.proxy()

    async def current(self) -> SessionEntry:
        """This entry, or its restarted successor when the actor died and someone restarts it.

        A successor that dies again before it is reached (a member crashing twice in a row) is looked up
        again, a few times, while its supervisor restarts it; then the session is reported as restarting."""
        if self.revive is None or self.handle.ref.is_alive():
            return self
        return await while_restarting(f"session {self.session_id}", self.revive, session_id=self.session_id)

    async def call(self, name: str, *args: Any, timeout: float = ASK_TIMEOUT) -> Any:
        """Call actor method ``name`` and await its answer without blocking the loop."""
        proxy = self._proxy

        def ask() -> Any:
            try:
                return getattr(proxy, name)(*args).get(timeout=timeout)
            except pykka.ActorDeadError:
                raise SessionNotFoundError(f"session {self.session_id} is no longer running",
                                           details={"session_id": self.session_id}) from None

        return await asyncio.to_thread(ask)


class SessionDirectory:
    """The realm's session actors, started on demand."""

    def __init__(self, services: SessionServices, *, tool_timeout_s: float = 30.0) -> None:
        self.services = services
        self.tool_timeout_s = tool_timeout_s
        self._entries: dict[str, SessionEntry] = {}
        self._loading: dict[str, asyncio.Future[SessionEntry]] = {}

    def loaded(self, session_id: str) -> bool:
        return session_id in self._entries

    def entries(self) -> list[SessionEntry]:
        return list(self._entries.values())

    async def create(self, *, model: str | None, provider: str | None, instructions: str,
                     labels: dict[str, str] | None) -> SessionEntry:
        """Create and persist a new idle session and start its actor."""
        session = await asyncio.to_thread(Session.create, self.services, model=model, provider=provider,
                                          instructions=instructions, labels=labels)
        return await self._start(session)

    async def get(self, session_id: str) -> SessionEntry:
        """The running actor of ``session_id``, loading the session from the store if needed."""
        entry = self._entries.get(session_id)
        if entry is not None:
            return await entry.current()
        pending = self._loading.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[SessionEntry] = asyncio.get_running_loop().create_future()
        self._loading[session_id] = future
        try:
            session = await asyncio.to_thread(Session.load, self.services, session_id)
            if session.meta.archived:
                raise SessionArchivedError(
                    f"session {session_id} is archived: its history stays readable, but it cannot run turns "
                    "or open live channels", details={"session_id": session_id})
            entry = await self._start(session)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            del self._loading[session_id]

    def adopt(self, handle: SessionHandle, session_id: str,
              revive: Callable[[], Awaitable[SessionEntry]] | None = None) -> SessionEntry:
        """Serve a session whose actor someone else started (e.g. a mob member; ``revive`` finds its
        restarted actor)."""
        entry = SessionEntry(handle, session_id, revive)
        self._entries[session_id] = entry
        return entry

    async def _start(self, session: Session) -> SessionEntry:
        handle = await asyncio.to_thread(SessionHandle.start, session, tool_timeout_s=self.tool_timeout_s)
        return self.adopt(handle, session.id)

    def release(self, session_id: str) -> None:
        """Stop serving a session whose actor someone else owns (and stops): its entry only is dropped."""
        self._entries.pop(session_id, None)

    async def retire(self, session_id: str) -> None:
        """Stop a session's actor (closing its live channel); it can be loaded again later."""
        entry = self._entries.pop(session_id, None)
        if entry is not None:
            await asyncio.to_thread(entry.handle.stop)

    def stop_all(self, timeout: float = 30.0) -> list[str]:
        """Stop every actor (blocking; call from outside the event loop while it still runs).

        Returns the ids of the sessions whose actor failed to stop (each also logged and recorded in
        ``services.stop_failures``); stopping goes on for the others."""
        entries, self._entries = list(self._entries.values()), {}
        failed: list[str] = []
        for entry in entries:
            try:
                entry.handle.stop(timeout=timeout)
            except Exception as exc:
                failed.append(entry.session_id)
                self.services.stop_failed(f"session {entry.session_id}: actor stop", exc)
        return failed
