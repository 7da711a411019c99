"""Handlers: ``session/inject_context``, ``session/fork_at``, ``session/export_atif``, ``comms/peers``,
``realm/list`` and ``realm/get`` (upstream session-family methods the SDK exposes; docs/rpc.md).

- ``inject_context`` commits one :class:`~mobkat.history.SystemRow` through the session's own
  :class:`~mobkat.session.Session` (so its in-memory history stays in step); the model sees it from the next turn.
- ``fork_at`` creates a new session (same model, provider, instructions, labels) whose history is a copy of the
  source's first ``message_index`` committed rows; the source is not touched.
- ``export_atif`` renders the committed history as an ATIF trajectory (:mod:`mobkat.rpc.atif`).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any, Literal

from mobkat.errors import InvalidInputError, SessionBusyError
from mobkat.history import BlockAssistantRow, HistoryRow, SystemRow, ToolResultsRow
from mobkat.rpc.atif import trajectory
from mobkat.rpc.realms import REALM_ID, Realm, SessionEntry
from mobkat.rpc.registry import Call, MethodRegistry
from mobkat.rpc.sessions import session_meta
from mobkat.session import Session
from mobkat.store import SessionMeta
from mobkat.wire.session import NoParams
from mobkat.wire.session_extras import (
    CacheInheritance,
    ExportAtifParams,
    ForkAtParams,
    ForkResult,
    InjectContextParams,
    InjectContextResult,
    Peer,
    PeersResult,
    RealmDetails,
    RealmGetParams,
    RealmSummary,
    SessionRefParams,
)

CONTEXT_MARK = "context:"
"""``SystemRow.interaction_id`` of an injected row with an idempotency key: ``context:<sha256 of key>``."""
_inject_lock = asyncio.Lock()


def register(registry: MethodRegistry) -> None:
    family = registry.family("sessions", "Sessions: create, run turns, read, list, page history, archive")
    family.add("session/inject_context", InjectContextParams, session_inject_context)
    family.add("session/fork_at", ForkAtParams, session_fork_at)
    family.add("session/export_atif", ExportAtifParams, session_export_atif)
    registry.family("comms", "Peers of a mob member's session (comms/peers)").add(
        "comms/peers", SessionRefParams, comms_peers)
    realms = registry.family("realms", "The realms under this server's state root (realm/list, realm/get)")
    realms.add("realm/list", NoParams, realm_list)
    realms.add("realm/get", RealmGetParams, realm_get)


# -- inject_context --------------------------------------------------------------------------------
def _context_row(params: InjectContextParams) -> SystemRow:
    text = params.body if params.source is None else f"[context from {params.source}]\n{params.body}"
    key = params.idempotency_key
    mark = None if key is None else CONTEXT_MARK + hashlib.sha256(key.encode()).hexdigest()
    return SystemRow(content=text, interaction_id=mark)


def _earlier(session: Session, mark: str) -> SystemRow | None:
    for row in reversed(session.history()):
        if isinstance(row, SystemRow) and row.interaction_id == mark:
            return row
    return None


def _apply(session: Session, row: SystemRow, key: str | None) -> Literal["applied", "duplicate"]:
    """Commit ``row`` unless its idempotency key was used before (blocking)."""
    if row.interaction_id is not None:
        earlier = _earlier(session, row.interaction_id)
        if earlier is not None:
            if earlier.content != row.content:
                raise InvalidInputError(
                    f"idempotency_key {key!r} was already used on session {session.id} with a different text or "
                    "source; use a new key", details={"session_id": session.id, "idempotency_key": key})
            return "duplicate"
    session.commit([row])  # a store failure stays what it is (-32603)
    return "applied"


async def session_inject_context(call: Call, params: InjectContextParams) -> dict[str, Any]:
    """Append one durable system message (idempotent per ``idempotency_key``); archived sessions refuse."""
    session = await _session(await call.host.sessions.get(params.session_id))  # unknown -32001, archived refuse
    async with _inject_lock:  # one check-then-commit at a time, so a key is never applied twice
        status = await asyncio.to_thread(_apply, session, _context_row(params), params.idempotency_key)
    return InjectContextResult(status=status).model_dump()


# -- fork_at ---------------------------------------------------------------------------------------
def _check_cut(rows: list[HistoryRow], index: int, session_id: str) -> None:
    if index == 0 or index >= len(rows):
        return
    before, after = rows[index - 1], rows[index]
    if isinstance(before, BlockAssistantRow) and before.tool_uses and isinstance(after, ToolResultsRow):
        raise InvalidInputError(
            f"message_index {index} splits the tool calls of message {index - 1} from their results in message "
            f"{index}; fork at {index - 1} or {index + 1}",
            details={"session_id": session_id, "message_index": index})


def _fork(call: Call, source: SessionMeta, index: int) -> ForkResult:
    store = call.host.store
    count = store.message_count(source.session_id)
    if index > count:
        raise InvalidInputError(
            f"message_index {index} is past the end of session {source.session_id} ({count} messages); use "
            f"0..{count}", details={"session_id": source.session_id, "message_index": index, "message_count": count})
    rows = store.history(source.session_id, offset=0, limit=index)
    _check_cut(store.history(source.session_id, offset=0, limit=index + 1), index, source.session_id)
    fork = SessionMeta(session_id=str(uuid.uuid4()), model=source.model, provider=source.provider,
                       instructions=source.instructions, labels=source.labels)
    store.create_session(fork)
    if rows:
        store.commit_turn(fork.session_id, rows)
    return ForkResult(source_session_id=source.session_id, session_id=fork.session_id, message_count=len(rows),
                      cache_inheritance=CacheInheritance(message_count=len(rows)))


async def _session(entry: SessionEntry) -> Session:
    """The :class:`Session` object an actor owns (its thread-safe methods may be called from here)."""
    proxy = entry.handle.ref.proxy()
    session: Session = await asyncio.to_thread(lambda: proxy.session.get(timeout=30.0))
    return session


async def session_fork_at(call: Call, params: ForkAtParams) -> dict[str, Any]:
    """A new session holding a copy of the source's first ``message_index`` committed rows.

    As upstream (``running_behavior`` ``reject``, the only one), a source running a turn is refused (-32002)."""
    source = await session_meta(call, params.session_id)
    if call.host.sessions.loaded(params.session_id):
        running = await _session(await call.host.sessions.get(params.session_id))
        if running.running:
            raise SessionBusyError(f"session {params.session_id} is running a turn; fork it when the turn has "
                                   "finished (running_behavior: reject)", details={"session_id": params.session_id})
    result = await asyncio.to_thread(_fork, call, source, params.message_index)
    return result.model_dump(mode="json")


# -- export_atif -----------------------------------------------------------------------------------
async def session_export_atif(call: Call, params: ExportAtifParams) -> dict[str, Any]:
    meta = await session_meta(call, params.session_id)
    rows = await asyncio.to_thread(call.host.store.history, params.session_id)
    return trajectory(meta, rows, agent_name=params.agent_name, agent_version=params.agent_version,
                      model_name=params.model_name)


# -- comms/peers -----------------------------------------------------------------------------------
async def comms_peers(call: Call, params: SessionRefParams) -> dict[str, Any]:
    """The members a mob member's session is wired to; a session outside any mob has no peers."""
    await session_meta(call, params.session_id)
    peers: list[Peer] = []
    for mob_id, hosted in list(call.host.mobs.mobs.items()):
        roster = await hosted.members()  # supervisor views: name, role, wired_to, status, session_id, ...
        by_name = {view["name"]: view for view in roster}
        me = next((view for view in roster if view.get("session_id") == params.session_id), None)
        if me is None:
            continue
        for name in me.get("wired_to", []):
            peer = by_name.get(name)
            if peer is not None:
                peers.append(Peer(name=f"{mob_id}/{peer['role']}/{name}", mob_id=mob_id, agent_identity=name,
                                  role=peer["role"], session_id=peer["session_id"],
                                  reachable=peer.get("status") == "active"))
    return PeersResult(session_id=params.session_id, peers=peers).model_dump(mode="json")


# -- realms ----------------------------------------------------------------------------------------
def _realm_ids(realm: Realm) -> list[str]:
    base = realm.state_root / "realms"
    found = {p.name for p in base.iterdir() if p.is_dir() and REALM_ID.fullmatch(p.name)} if base.is_dir() else set()
    return sorted(found | {realm.realm_id})


async def realm_list(call: Call, _params: NoParams) -> dict[str, Any]:
    """Every realm under this server's state root (plus the one it serves); names only."""
    ids = await asyncio.to_thread(_realm_ids, call.host.realm)
    return {"realms": [RealmSummary(realm_id=realm_id, backend_count=1).model_dump() for realm_id in ids]}


async def realm_get(call: Call, params: RealmGetParams) -> dict[str, Any]:
    """One realm's backend and root; the session count only for the realm this server serves."""
    realm = call.host.realm
    ids = await asyncio.to_thread(_realm_ids, realm)
    if params.realm_id not in ids:
        raise InvalidInputError(f"realm not found: {params.realm_id} (realms under this state root: "
                                f"{', '.join(ids)})", details={"realm_id": params.realm_id})
    current = params.realm_id == realm.realm_id
    count = len(await asyncio.to_thread(call.host.store.list_sessions, include_archived=True)) if current else None
    backend = realm.backend if current else "sqlite"
    root = realm.root if current else realm.state_root / "realms" / params.realm_id
    return RealmDetails(realm_id=params.realm_id, backend=backend, root=str(root), current=current,
                        session_count=count).model_dump(mode="json")
