"""Handlers of the ``mob/*`` methods: mobs of agents hosted in this server's realm.

Mob failures are typed :mod:`mobkat.errors` (``MobError`` family: -32602 with ``error.data.code`` such as
``member_not_found``, ``invalid_transition``, ``not_externally_addressable``). The four
``mob/member_live_*`` methods are registered only when the ``live/*`` family is (``--live-ws``) and
answer -32602/-32603 like it. Audio never goes through the mob: clients stream it over the channel's
WebSocket, whose URL and token come from ``mob/member_live_open``.
"""

from __future__ import annotations

import logging
from typing import Any

from mobkat.errors import (
    INVALID_PARAMS,
    ChannelAlreadyBoundError,
    ChannelNotFoundError,
    ConfigError,
    InvalidInputError,
    MemberBrokenError,
    MobkatError,
    NotExternallyAddressableError,
    StaleCursorError,
    StoreError,
    ToolError,
    WiringError,
)
from mobkat.live.wire import LiveOpenResult
from mobkat.mob.events import MobEvent
from mobkat.mob.lifecycle import next_state
from mobkat.rpc import live
from mobkat.rpc.feed import ChannelFeed
from mobkat.rpc.flows import register_flows
from mobkat.rpc.hosted_mob import HostedMob
from mobkat.rpc.mob_directory import MobDirectory
from mobkat.rpc.mob_extras import register_extras
from mobkat.rpc.mob_params import (
    CONTROL_STATUS,
    ExternalPeer,
    FailedRow,
    LifecycleResult,
    LiveControlResult,
    LocalPeer,
    MemberLiveChannelParams,
    MemberLiveControlParams,
    MemberLiveOpenParams,
    MemberLiveStatusParams,
    MemberParams,
    MemberSendParams,
    MemberSendResult,
    MobCreateParams,
    MobCreateResult,
    MobEventsParams,
    MobEventsResult,
    MobIdParams,
    MobLifecycleParams,
    MobListParams,
    MobListResult,
    MobMember,
    MobMembersResult,
    MobRespawnParams,
    MobSpawnManyParams,
    MobSpawnParams,
    MobStatusResult,
    MobWireParams,
    RespawnReceipt,
    RespawnResult,
    RetireResult,
    SpawnedRow,
    SpawnManyEntry,
    SpawnManyResult,
    SpawnResult,
    SpawnSpec,
    StreamCloseParams,
    StreamCloseResult,
    StreamOpenParams,
    StreamOpenResult,
    TruncateVerb,
    UnwireResult,
    WireResult,
    content_text,
    member_ref,
)
from mobkat.rpc.params import LiveAck, LiveStatusResult
from mobkat.rpc.protocol import RpcError
from mobkat.rpc.registry import Call, MethodRegistry
from mobkat.rpc.sessions import KNOWN_CAPABILITIES
from mobkat.rpc.streams import open_mob_stream

log = logging.getLogger(__name__)
SPAWN_CAUSES = frozenset({"profile_not_found", "member_not_found", "member_already_exists",
                          "not_externally_addressable", "invalid_transition", "wiring_error"})
"""Error codes that are upstream ``mob/spawn_many`` failure causes as they are."""


def register(registry: MethodRegistry) -> None:
    description = KNOWN_CAPABILITIES["mob"][0]
    family = registry.family("mob", description)
    family.add("mob/create", MobCreateParams, mob_create)
    family.add("mob/list", MobListParams, mob_list)
    family.add("mob/status", MobIdParams, mob_status)
    family.add("mob/members", MobIdParams, mob_members)
    family.add("mob/spawn", MobSpawnParams, mob_spawn)
    family.add("mob/spawn_many", MobSpawnManyParams, mob_spawn_many)
    family.add("mob/retire", MemberParams, mob_retire)
    family.add("mob/respawn", MobRespawnParams, mob_respawn)
    family.add("mob/wire", MobWireParams, mob_wire)
    family.add("mob/unwire", MobWireParams, mob_unwire)
    family.add("mob/lifecycle", MobLifecycleParams, mob_lifecycle)
    family.add("mob/member_send", MemberSendParams, mob_member_send)
    family.add("mob/events", MobEventsParams, mob_events)
    family.add("mob/stream_open", StreamOpenParams, mob_stream_open)
    family.add("mob/stream_close", StreamCloseParams, mob_stream_close)
    register_extras(family)  # member_status, force_cancel, wait_*, turn_start, helpers, ... (mob_extras)
    register_flows(family)  # mob/flows, flow_run, run, flow_status, run_result, flow_cancel (mobkat.rpc.flows)
    if registry.offers("live"):  # gated like live/*: only with a live transport
        member_live = registry.family("mob", description, errors="live")
        member_live.add("mob/member_live_open", MemberLiveOpenParams, mob_member_live_open)
        member_live.add("mob/member_live_close", MemberLiveChannelParams, mob_member_live_close)
        member_live.add("mob/member_live_status", MemberLiveStatusParams, mob_member_live_status)
        member_live.add("mob/member_live_control", MemberLiveControlParams, mob_member_live_control)


def _mobs(call: Call) -> MobDirectory:
    return call.host.mobs


def _hosted(call: Call, mob_id: str) -> HostedMob:
    return _mobs(call).get(mob_id)


# -- mobs ---------------------------------------------------------------------------------------------
async def mob_create(call: Call, params: MobCreateParams) -> dict[str, Any]:
    directory = _mobs(call)
    definition = await directory.load_definition(params.definition, params.path)  # data: see docs/security.md
    hosted = await directory.create(definition)
    return MobCreateResult(mob_id=hosted.id).model_dump()


async def mob_list(call: Call, _params: MobListParams) -> dict[str, Any]:
    mobs = [MobStatusResult(mob_id=h.id, status=h.status) for h in _mobs(call).mobs.values()]
    return MobListResult(mobs=mobs).model_dump()


async def mob_status(call: Call, params: MobIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    return MobStatusResult(mob_id=hosted.id, status=hosted.status).model_dump()


async def mob_members(call: Call, params: MobIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    members = []
    for view in await hosted.members():
        name = view["name"]
        error = hosted.broken.get(name, "restart limit reached") if view["status"] == "broken" else None
        members.append(MobMember(agent_identity=name, member_ref=member_ref(hosted.id, name), role=view["role"],
                                 runtime_mode=view["runtime_mode"], wired_to=view["wired_to"], labels=view["labels"],
                                 status=view["status"], error=error, generation=view["generation"],
                                 current_session_id=view["session_id"]))
    return MobMembersResult(mob_id=hosted.id, members=members).model_dump(exclude_none=True)


async def mob_lifecycle(call: Call, params: MobLifecycleParams) -> dict[str, Any]:
    """``stop|resume|complete|reset|destroy`` (mobkat.mob.lifecycle); an illegal one is -32602
    ``invalid_transition`` naming the mob's state. Every action but resume closes the members' live channels."""
    hosted = _hosted(call, params.mob_id)
    next_state(hosted.id, hosted.status, params.action)  # refused before anything is touched
    if params.action != "resume":
        for channel_id in hosted.claimed:
            live.revoke_channel(call, channel_id)
        hosted.claimed.clear()
    if params.action == "destroy":
        await _mobs(call).destroy(hosted.id)
    else:
        await hosted.lifecycle(params.action)
    return LifecycleResult(mob_id=hosted.id, action=params.action, ok=True).model_dump()


# -- members ------------------------------------------------------------------------------------------
async def mob_spawn(call: Call, params: MobSpawnParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    name = await hosted.spawn(params)
    return SpawnResult(mob_id=hosted.id, agent_identity=name, member_ref=member_ref(hosted.id, name)).model_dump()


def _cause(exc: MobkatError) -> str:
    """The upstream ``mob/spawn_many`` failure cause of an error."""
    if exc.code in SPAWN_CAUSES:
        return exc.code
    if isinstance(exc, ConfigError | ToolError):
        return "definition_error"
    if isinstance(exc, MemberBrokenError):
        return "member_restore_failed"
    if isinstance(exc, StoreError):
        return "storage_error"
    return "internal"  # resource_exhausted included: structured_data.code says which


def _failed_row(exc: Exception, spec: SpawnSpec) -> FailedRow:
    """One spec's failure, whatever it was: the batch goes on and reports it in its row."""
    if not isinstance(exc, MobkatError):
        log.error("mob/spawn_many: spawning %s failed unexpectedly", spec.agent_identity or spec.profile,
                  exc_info=exc)
        exc = MobkatError(f"spawning member {spec.agent_identity or spec.profile} failed: {type(exc).__name__}: {exc}")
    return FailedRow(cause=_cause(exc), message=exc.message, structured_data=exc.to_data())


async def mob_spawn_many(call: Call, params: MobSpawnManyParams) -> dict[str, Any]:
    """Spawn in input order; each spec succeeds or fails on its own, so the answer always says which members
    exist (even when the server runs out of threads part-way: those rows fail, the spawned ones stay)."""
    hosted = _hosted(call, params.mob_id)
    hosted.require_running("spawn_many")
    results: list[SpawnManyEntry] = []
    for spec in params.specs:
        try:
            name = await hosted.spawn(spec)
        except Exception as exc:
            results.append(SpawnManyEntry(status="failed", result=_failed_row(exc, spec)))
        else:
            row = SpawnedRow(agent_identity=name, member_ref=member_ref(hosted.id, name))
            results.append(SpawnManyEntry(status="spawned", result=row))
    return SpawnManyResult(results=results).model_dump()


async def mob_retire(call: Call, params: MemberParams) -> dict[str, Any]:
    """Idempotent: retiring an unknown (or already retired) member also answers ``retired: true``."""
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("retire")
    await hosted.run(mob.retire, params.agent_identity)
    await hosted.forget(params.agent_identity)
    return RetireResult(retired=True).model_dump()


async def mob_respawn(call: Call, params: MobRespawnParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("respawn")
    initial = None if params.initial_message is None else content_text(params.initial_message)
    await hosted.run(mob.respawn, params.agent_identity, initial)
    await hosted.adopt_restarting(params.agent_identity)  # its new actor may crash at once: it is restarted
    receipt = RespawnReceipt(identity=params.agent_identity, member_ref=member_ref(hosted.id, params.agent_identity))
    return RespawnResult(status="completed", receipt=receipt).model_dump()


def _peer(peer: LocalPeer | ExternalPeer | str) -> str:
    if isinstance(peer, str):
        return peer
    if isinstance(peer, LocalPeer):
        return peer.local
    raise WiringError("wiring error: external peers are not supported by mobkat; wire members of this mob with "
                      '{"local": "<agent_identity>"}', details={"peer": peer.external})


async def mob_wire(call: Call, params: MobWireParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("wire")
    await hosted.run(mob.wire, params.member, _peer(params.peer))
    return WireResult(wired=True).model_dump()


async def mob_unwire(call: Call, params: MobWireParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("unwire")
    await hosted.run(mob.unwire, params.member, _peer(params.peer))
    return UnwireResult(unwired=True).model_dump()


async def mob_member_send(call: Call, params: MemberSendParams) -> dict[str, Any]:
    """Host → member content; only members whose profile sets ``external_addressable = true``."""
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("member_send")
    name = params.agent_identity
    role = hosted.role_of(name)
    if not mob.definition.profile(role).external_addressable:
        raise NotExternallyAddressableError(
            f"mob member {name} (profile {role}) is not externally addressable: hosts may only send to members "
            f"whose profile sets external_addressable = true ([profiles.{role}])",
            details={"mob_id": hosted.id, "agent_identity": name, "profile": role})
    await hosted.run(mob.send, name, content_text(params.content), params.handling_mode)
    return MemberSendResult(mob_id=hosted.id, agent_identity=name, member_ref=member_ref(hosted.id, name),
                            handling_mode=params.handling_mode).model_dump()


# -- events -------------------------------------------------------------------------------------------
async def mob_events(call: Call, params: MobEventsParams) -> dict[str, Any]:
    """Events after ``after_cursor``; a cursor beyond the latest is ``[]`` (``strict``: an error)."""
    hosted = _hosted(call, params.mob_id)
    events_log = hosted.mob.events_log
    latest = events_log.latest
    if params.after_cursor > latest:
        if params.strict:
            raise StaleCursorError(f"mob {hosted.id}: cursor {params.after_cursor} is beyond the latest event "
                                   f"({latest})", details={"watermark": latest, "requested": params.after_cursor})
        return MobEventsResult(events=[]).model_dump(mode="json")
    try:
        events: list[MobEvent] = events_log.after(params.after_cursor, params.limit)
    except InvalidInputError as exc:  # older than the oldest kept event
        oldest = int(exc.details.get("oldest", 1))
        if params.strict:
            raise StaleCursorError(exc.message, details={"watermark": latest, "requested": params.after_cursor,
                                                         "oldest": oldest}) from None
        events = events_log.after(oldest - 1, params.limit)
    return MobEventsResult(events=events).model_dump(mode="json")


async def mob_stream_open(call: Call, params: StreamOpenParams) -> dict[str, Any]:
    """Push ``mob/stream_event`` for every new event (about ``agent_identity`` only, when given)."""
    hosted = _hosted(call, params.mob_id)
    hosted.require_running("stream_open")
    if params.agent_identity is not None:
        hosted.role_of(params.agent_identity)
    if params.events == "agent":  # upstream's: the members' agent events (mobkat.rpc.streams)
        agents = open_mob_stream(call.host, hosted, params.agent_identity, call.notify, call.closed)
        return StreamOpenResult(stream_id=agents.stream_id, opened=True).model_dump()
    stream = _mobs(call).open_stream(hosted, params.agent_identity, call.notify, call.closed)
    return StreamOpenResult(stream_id=stream.stream_id, opened=True).model_dump()


async def mob_stream_close(call: Call, params: StreamCloseParams) -> dict[str, Any]:
    agents = call.host.streams.find(params.stream_id)
    if agents is not None and agents.family == "mob":
        return call.host.streams.close(agents)
    stream = _mobs(call).stream(params.stream_id)
    was_open = await stream.close()
    return StreamCloseResult(stream_id=stream.stream_id, closed=True, already_closed=not was_open).model_dump()


# -- member live channels -----------------------------------------------------------------------------
async def mob_member_live_open(call: Call, params: MemberLiveOpenParams) -> dict[str, Any]:
    """Open the member's channel (or take over the one the mob opened on spawn) and mint its socket."""
    live.listener_of(call)
    if params.transport == "webrtc":
        raise RpcError(INVALID_PARAMS, "live transport webrtc is not supported for mob members: use websocket",
                       kind="live_transport_unsupported", details={"transport": "webrtc"})
    hosted = _hosted(call, params.mob_id)
    hosted.require_running("member_live_open")
    entry = await hosted.entry(params.agent_identity)
    current = await entry.call("live_channel_id")
    if current is not None and current in hosted.claimed:
        raise ChannelAlreadyBoundError(
            f"mob member {params.agent_identity} already has live channel {current} open for a host: close it "
            "with mob/member_live_close before opening another",
            details={"agent_identity": params.agent_identity, "channel_id": current})
    feed = ChannelFeed()
    result: LiveOpenResult = await entry.call("claim_live", params.turning_mode, feed)
    hosted.claimed.add(result.channel_id)
    return live.publish_channel(call, entry, result, feed)


async def _member_channel(call: Call, params: MemberLiveChannelParams | MemberLiveControlParams) -> str:
    """Check that the named channel is this member's (closed ones count: close-what-you-name is idempotent)."""
    entry = await _hosted(call, params.mob_id).entry(params.agent_identity)
    await entry.call("live_status", params.channel_id)
    return params.channel_id


async def mob_member_live_close(call: Call, params: MemberLiveChannelParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    entry = await hosted.entry(params.agent_identity)
    await _member_channel(call, params)
    if await entry.call("live_channel_id") == params.channel_id:
        await entry.call("close_live")
    hosted.claimed.discard(params.channel_id)
    live.revoke_channel(call, params.channel_id)
    return LiveAck(status="closed").model_dump()


async def mob_member_live_status(call: Call, params: MemberLiveStatusParams) -> dict[str, Any]:
    """Without ``channel_id``: the member's active channel."""
    entry = await _hosted(call, params.mob_id).entry(params.agent_identity)
    channel_id = params.channel_id or await entry.call("live_channel_id")
    if channel_id is None:
        raise ChannelNotFoundError(f"mob member {params.agent_identity} has no active live channel",
                                   details={"agent_identity": params.agent_identity})
    status = await entry.call("live_status", channel_id)
    return LiveStatusResult(channel_id=channel_id, status=status).model_dump(mode="json", exclude_none=True)


async def mob_member_live_control(call: Call, params: MemberLiveControlParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    hosted.require_running("member_live_control")
    entry = await hosted.entry(params.agent_identity)
    channel_id = await _member_channel(call, params)
    verb = params.verb
    if isinstance(verb, TruncateVerb):
        await entry.call("live_truncate", channel_id, verb.item_id, verb.content_index, verb.audio_played_ms)
    elif verb.verb == "commit_input":
        await entry.call("live_commit_input", channel_id, None)
    else:
        await entry.call(f"live_{verb.verb}", channel_id)
    return LiveControlResult.model_validate({"verb": verb.verb, "status": CONTROL_STATUS[verb.verb]}).model_dump()
