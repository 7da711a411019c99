"""Handlers: ``initialize``, ``capabilities/get``, ``session/*``, ``turn/start|interrupt``, ``models/catalog``,
``config/get``.

Reads (``session/read|list|history``) go straight to the realm's store, so sessions that have no
actor in this process (e.g. after a restart) are readable; turns go through the session's actor.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from mobkat.contract import CONTRACT_VERSION, CURRENT
from mobkat.errors import CorruptRecordError, SessionNotFoundError, TurnInterruptedError, UnknownModelError
from mobkat.history import BlockAssistantRow, HistoryRow, UserRow, row_to_wire
from mobkat.rpc.params import (
    DEFAULT_HISTORY_LIMIT,
    CapabilitiesResult,
    CapabilityEntry,
    ConfigResult,
    CreateSessionParams,
    DeferredCreateResult,
    InitializeResult,
    ModelsCatalogParams,
    NoParams,
    ResolvedCapabilities,
    ServerInfo,
    SessionHistoryParams,
    SessionIdParams,
    SessionInfo,
    SessionListParams,
    SessionSummary,
    TurnStartParams,
)
from mobkat.rpc.realms import SessionEntry
from mobkat.rpc.registry import Call, MethodRegistry
from mobkat.session import TurnResult
from mobkat.session.events import EnvelopeSink
from mobkat.store import SessionMeta, SessionStore
from mobkat.wire.events import EventEnvelope

log = logging.getLogger(__name__)
SERVER_NAME = "mobkat-rpc"
CORE_FAMILY = "rpc"
KNOWN_CAPABILITIES: dict[str, tuple[str, str]] = {
    "sessions": ("Sessions: create, run turns, read, list, page history, archive", ""),
    "models": ("The model catalog with capabilities (models/catalog)", ""),
    "config": ("The merged configuration and where each value came from (config/get)", ""),
    "live": ("Live audio/text channels (live/*) streamed over the --live-ws WebSocket",
             "start the server with --live-ws ADDR"),
    "mob": ("Mobs of agents (mob/*)", "the mob runtime is not served by this build yet"),
}
"""id → (description, how to enable it when it is not offered)."""


def register(registry: MethodRegistry) -> None:
    core = registry.family(CORE_FAMILY, "JSON-RPC handshake: initialize and capabilities/get")
    core.add("initialize", NoParams, initialize)
    core.add("capabilities/get", NoParams, capabilities_get)
    family = registry.family("sessions", KNOWN_CAPABILITIES["sessions"][0])
    family.add("session/create", CreateSessionParams, session_create)
    family.add("turn/start", TurnStartParams, turn_start)
    family.add("turn/interrupt", SessionIdParams, turn_interrupt)
    family.add("session/read", SessionIdParams, session_read)
    family.add("session/list", SessionListParams, session_list)
    family.add("session/history", SessionHistoryParams, session_history)
    family.add("session/archive", SessionIdParams, session_archive)
    registry.family("models", KNOWN_CAPABILITIES["models"][0]).add("models/catalog", ModelsCatalogParams,
                                                                   models_catalog)
    registry.family("config", KNOWN_CAPABILITIES["config"][0]).add("config/get", NoParams, config_get)


# -- handshake -------------------------------------------------------------------------------------
async def initialize(call: Call, _params: NoParams) -> dict[str, Any]:
    result = InitializeResult(server_info=ServerInfo(name=SERVER_NAME, version=CONTRACT_VERSION),
                              contract_version=CONTRACT_VERSION, methods=call.host.registry.names(),
                              realm_id=call.host.realm.realm_id)
    return result.model_dump(mode="json")


async def capabilities_get(call: Call, _params: NoParams) -> dict[str, Any]:
    registry = call.host.registry
    entries: list[CapabilityEntry] = []
    for cap_id, (description, enable) in KNOWN_CAPABILITIES.items():
        status: str | dict[str, Any] = "Available" if registry.offers(cap_id) else {
            "DisabledByPolicy": {"description": enable}}
        entries.append(CapabilityEntry(id=cap_id, description=description, status=status))
    for family in registry.families():
        if family.id not in KNOWN_CAPABILITIES and family.id != CORE_FAMILY:
            entries.append(CapabilityEntry(id=family.id, description=family.description, status="Available"))
    return CapabilitiesResult(contract_version=CURRENT, capabilities=entries).model_dump(mode="json")


# -- turns -----------------------------------------------------------------------------------------
def _prompt(params: CreateSessionParams | TurnStartParams) -> str | UserRow:
    return params.prompt if isinstance(params.prompt, str) else UserRow(content=params.prompt)


async def run_turn(call: Call, entry: SessionEntry, prompt: str | HistoryRow) -> dict[str, Any]:
    """Run one turn on ``entry``, pushing ``session/event`` notifications; the run result."""
    session_id = entry.session_id

    def on_event(envelope: EventEnvelope) -> None:  # upstream's session/event: the full envelope
        call.notify("session/event", {"session_id": session_id, "event": envelope.to_wire()})

    future = await entry.call("start_turn", prompt, EnvelopeSink(on_event))
    try:
        result: TurnResult = await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if future.cancelled() and (task is None or task.cancelling() == 0):  # turn/interrupt, not our caller
            raise TurnInterruptedError("request cancelled", details={"session_id": session_id}) from None
        raise
    return result.to_wire()


async def session_create(call: Call, params: CreateSessionParams) -> dict[str, Any]:
    entry = await call.host.sessions.create(model=params.model, provider=params.provider,
                                            instructions=params.instructions() or "", labels=params.labels)
    if params.initial_turn == "deferred":
        return DeferredCreateResult(session_id=entry.session_id).model_dump(exclude_none=True)
    return await run_turn(call, entry, _prompt(params))


async def turn_start(call: Call, params: TurnStartParams) -> dict[str, Any]:
    entry = await call.host.sessions.get(params.session_id)
    if params.model is not None or params.provider is not None:
        meta = await session_meta(call, params.session_id)
        await entry.call("set_model", params.model or meta.model, params.provider)
    instructions = params.instructions()
    if instructions is not None:
        await entry.call("set_instructions", instructions)
    return await run_turn(call, entry, _prompt(params))


class InterruptResult(BaseModel):
    """``turn/interrupt``'s answer (upstream's ``InterruptResult`` plus ``session_id``)."""

    session_id: str
    interrupted: bool
    result: Literal["interrupted", "staged_noop"]


async def turn_interrupt(call: Call, params: SessionIdParams) -> dict[str, Any]:
    """Cancel the session's running ``turn/start``/``session/create`` turn (which then answers -32005).

    As upstream: an idle session answers ``interrupted``; a session that never ran a turn ``staged_noop``."""
    session_id = params.session_id
    meta = await session_meta(call, session_id)
    if meta.archived:
        raise SessionNotFoundError(f"session {session_id} not found in realm {call.host.realm.realm_id} "
                                   "(it is archived)", details={"session_id": session_id, "archived": True})
    cancelled = False
    if call.host.sessions.loaded(session_id):  # no actor here: no turn is running
        cancelled = await (await call.host.sessions.get(session_id)).call("interrupt_turn")
        if not cancelled:
            meta = await session_meta(call, session_id)  # a turn may have committed meanwhile
    if not cancelled and meta.turn_count == 0:
        return InterruptResult(session_id=session_id, interrupted=False, result="staged_noop").model_dump()
    return InterruptResult(session_id=session_id, interrupted=True, result="interrupted").model_dump()


# -- reads -----------------------------------------------------------------------------------------
def epoch_seconds(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp).timestamp())


async def session_meta(call: Call, session_id: str) -> SessionMeta:
    """The stored session's metadata; a typed not-found error naming the realm otherwise."""
    meta = await asyncio.to_thread(call.host.store.get_session, session_id)
    if meta is None:
        raise SessionNotFoundError(f"session {session_id} not found in realm {call.host.realm.realm_id}",
                                   details={"session_id": session_id, "realm_id": call.host.realm.realm_id})
    return meta


def _last_assistant_text(store: SessionStore, session_id: str, count: int) -> str | None:
    for row in reversed(store.history(session_id, offset=max(0, count - 50))):
        if isinstance(row, BlockAssistantRow):
            return row.text
    return None


def _total_tokens(rows: list[HistoryRow]) -> int:
    total = 0
    for row in rows:
        if isinstance(row, BlockAssistantRow) and row.usage is not None:
            total += row.usage.total_tokens or row.usage.input_tokens + row.usage.output_tokens
    return total


async def session_read(call: Call, params: SessionIdParams) -> dict[str, Any]:
    host, session_id = call.host, params.session_id
    meta = await session_meta(call, session_id)
    count = await asyncio.to_thread(host.store.message_count, session_id)
    last_text = await asyncio.to_thread(_last_assistant_text, host.store, session_id, count)
    channel_id = None
    if host.sessions.loaded(session_id):
        channel_id = await (await host.sessions.get(session_id)).call("live_channel_id")
    try:
        caps = host.services.catalog.resolve(meta.model, meta.provider).capabilities
        resolved = ResolvedCapabilities(vision=caps.vision, image_input=caps.vision,
                                        image_tool_results=caps.image_tool_results, inline_video=caps.inline_video,
                                        realtime=caps.realtime, web_search=caps.supports_web_search,
                                        image_generation=caps.image_generation)
    except UnknownModelError:
        resolved = None
    info = SessionInfo(session_id=session_id, created_at=epoch_seconds(meta.created_at),
                       updated_at=epoch_seconds(meta.updated_at), message_count=count, labels=meta.labels,
                       is_active=host.sessions.loaded(session_id), model=meta.model, provider=meta.provider,
                       last_assistant_text=last_text, resolved_capabilities=resolved, archived=meta.archived,
                       idle=meta.turn_count == 0, turn_count=meta.turn_count, live_channel_id=channel_id)
    return info.model_dump(mode="json", exclude_none=True)


def _summaries(call: Call, params: SessionListParams) -> list[SessionSummary]:
    host = call.host
    metas = host.store.list_sessions(include_archived=params.include_archived)
    wanted = params.labels or {}
    metas = [m for m in metas if all(m.labels.get(k) == v for k, v in wanted.items())]
    start = params.offset or 0
    metas = metas[start:] if params.limit is None else metas[start:start + params.limit]
    summaries = []
    for meta in metas:
        try:
            rows = host.store.history(meta.session_id)
        except CorruptRecordError as exc:  # that session only; session/history names its bad row
            log.warning("session/list: leaving session %s out: %s", meta.session_id, exc.message)
            continue
        summaries.append(SessionSummary(
            session_id=meta.session_id, created_at=epoch_seconds(meta.created_at),
            updated_at=epoch_seconds(meta.updated_at), message_count=len(rows), total_tokens=_total_tokens(rows),
            labels=meta.labels, is_active=host.sessions.loaded(meta.session_id), archived=meta.archived))
    return summaries


async def session_list(call: Call, params: SessionListParams) -> dict[str, Any]:
    summaries = await asyncio.to_thread(_summaries, call, params)
    return {"sessions": [s.model_dump(mode="json") for s in summaries]}


async def session_history(call: Call, params: SessionHistoryParams) -> dict[str, Any]:
    store, session_id = call.host.store, params.session_id
    await session_meta(call, session_id)
    limit = DEFAULT_HISTORY_LIMIT if params.limit is None else params.limit
    rows = await asyncio.to_thread(store.history, session_id, offset=params.offset, limit=limit)
    count = await asyncio.to_thread(store.message_count, session_id)
    return {"session_id": session_id, "message_count": count, "offset": params.offset, "limit": limit,
            "has_more": params.offset + len(rows) < count, "messages": [row_to_wire(row) for row in rows]}


async def session_archive(call: Call, params: SessionIdParams) -> dict[str, Any]:
    await session_meta(call, params.session_id)
    await call.host.sessions.retire(params.session_id)
    await asyncio.to_thread(call.host.store.archive_session, params.session_id)
    return {"session_id": params.session_id, "archived": True}


# -- catalog and config ----------------------------------------------------------------------------
async def models_catalog(call: Call, params: ModelsCatalogParams) -> dict[str, Any]:
    return call.host.services.catalog.to_wire(params.provider)


async def config_get(call: Call, _params: NoParams) -> dict[str, Any]:
    host = call.host
    config = host.config
    sources = {}
    for key in ("default_model", *(f"providers.{p}" for p in config.providers),
                *(f"models.{m}" for m in config.models)):
        source = config.source_of(key)
        if source is not None:
            sources[key] = str(source)
    database = host.realm.database
    result = ConfigResult(
        config=config.model_dump(mode="json", exclude_none=True), generation=host.config_generation,
        backend=host.realm.backend,
        realm_id=host.realm.realm_id, instance_id=host.options.instance,
        resolved_paths={"state_root": str(host.realm.state_root), "realm_root": str(host.realm.root),
                        "sessions_db": str(database) if database else None,
                        "config_files": ", ".join(config.files) or None},
        sources=sources)
    return result.model_dump(mode="json")
