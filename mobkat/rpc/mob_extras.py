"""Handlers of the member calls upstream's SDK makes that the core ``mob/*`` family lacked (issue #15 C).

``mob/member_status``, ``mob/force_cancel``, ``mob/wait_ready``, ``mob/wait_kickoff``,
``mob/append_system_context``, ``mob/turn_start``, ``mob/snapshot``, ``mob/ensure_member``,
``mob/list_members_matching``, ``mob/wire_members_batch``, ``mob/destroy``, ``mob/spawn_helper`` and
``mob/fork_helper``. The work is done by :mod:`mobkat.mob.member_ops` (blocking, run off the loop);
errors are the ``MobError`` family (-32602).
"""

from __future__ import annotations

import uuid
from typing import Any

from mobkat.errors import MemberExistsError, NotTurnDrivenError, ProfileNotFoundError
from mobkat.history import BlockAssistantRow, ToolResultsRow, Usage, UserRow
from mobkat.mob import member_ops
from mobkat.mob.mob import Mob
from mobkat.rpc.hosted_mob import HostedMob
from mobkat.rpc.mob_params import MemberParams, MobIdParams, MobLifecycleParams, SpawnSpec, member_ref
from mobkat.rpc.registry import Call, Family
from mobkat.rpc.sessions import run_turn
from mobkat.wire.mob_extras import (
    AppendSystemContextParams,
    AppendSystemContextResult,
    BoundedResult,
    DestroyResult,
    Edge,
    EnsureMemberParams,
    EnsureMemberResult,
    EnsureOutcome,
    ForceCancelResult,
    ForkHelperParams,
    HelperResult,
    ListMembersMatchingParams,
    MembersResult,
    MemberStatusResult,
    MobTurnStartParams,
    SnapshotResult,
    SpawnHelperParams,
    WaitParams,
    WaitResult,
    WireMembersBatchParams,
    WireMembersBatchResult,
)

HELPER_TURN_TIMEOUT_S = 600.0
"""How long ``mob/spawn_helper``/``fork_helper`` wait for the helper's turn."""


def register_extras(family: Family) -> None:
    """Add these methods to the ``mob`` family (called by :func:`mobkat.rpc.mob.register`)."""
    family.add("mob/member_status", MemberParams, mob_member_status)
    family.add("mob/force_cancel", MemberParams, mob_force_cancel)
    family.add("mob/wait_ready", WaitParams, mob_wait_ready)
    family.add("mob/wait_kickoff", WaitParams, mob_wait_kickoff)
    family.add("mob/append_system_context", AppendSystemContextParams, mob_append_system_context)
    family.add("mob/turn_start", MobTurnStartParams, mob_turn_start)
    family.add("mob/snapshot", MobIdParams, mob_snapshot)
    family.add("mob/ensure_member", EnsureMemberParams, mob_ensure_member)
    family.add("mob/list_members_matching", ListMembersMatchingParams, mob_list_members_matching)
    family.add("mob/wire_members_batch", WireMembersBatchParams, mob_wire_members_batch)
    family.add("mob/destroy", MobIdParams, mob_destroy)
    family.add("mob/spawn_helper", SpawnHelperParams, mob_spawn_helper)
    family.add("mob/fork_helper", ForkHelperParams, mob_fork_helper)


def _hosted(call: Call, mob_id: str) -> HostedMob:
    return call.host.mobs.get(mob_id)


async def _rows(call: Call, mob_id: str) -> list[dict[str, Any]]:
    """The ``mob/members`` entries (whatever that method answers, so both stay the same)."""
    spec = call.host.registry.get("mob/members")
    assert spec is not None
    result: dict[str, Any] = await spec.handler(call, MobIdParams(mob_id=mob_id))
    rows: list[dict[str, Any]] = result["members"]
    return rows


# -- reads --------------------------------------------------------------------------------------------
async def mob_member_status(call: Call, params: MemberParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    status = await hosted.run(member_ops.member_status, hosted.mob, params.agent_identity)
    result = MemberStatusResult(member_ref=member_ref(hosted.id, params.agent_identity), **status)
    return result.model_dump(mode="json", exclude_none=True)


async def mob_snapshot(call: Call, params: MobIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    rows = await _rows(call, params.mob_id)
    return SnapshotResult(mob_id=hosted.id, status=hosted.status, members=rows).model_dump(exclude_none=True)


async def mob_list_members_matching(call: Call, params: ListMembersMatchingParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    wanted = params.filter
    matching = await hosted.run(member_ops.list_members_matching, hosted.mob, wanted.labels, wanted.role,
                                wanted.status)
    names = {view["name"] for view in matching}
    rows = [row for row in await _rows(call, params.mob_id) if row["agent_identity"] in names]
    return MembersResult(members=rows).model_dump(exclude_none=True)


async def _wait(call: Call, params: WaitParams, kickoff: bool) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    wait = member_ops.wait_kickoff if kickoff else member_ops.wait_ready
    default = member_ops.KICKOFF_TIMEOUT_S if kickoff else member_ops.READY_TIMEOUT_S
    timeout_s = default if params.timeout_ms is None else params.timeout_ms / 1000
    members = await hosted.run(wait, hosted.mob, params.member_ids, timeout_s)
    return WaitResult.model_validate({"members": members}).model_dump(mode="json", exclude_none=True)


async def mob_wait_ready(call: Call, params: WaitParams) -> dict[str, Any]:
    """Each member (default: all) is in the roster and running (turn-driven ones at once); 60 s default bound."""
    return await _wait(call, params, kickoff=False)


async def mob_wait_kickoff(call: Call, params: WaitParams) -> dict[str, Any]:
    """Each autonomous member's first turn has settled; 600 s default bound."""
    return await _wait(call, params, kickoff=True)


# -- member calls -------------------------------------------------------------------------------------
async def mob_force_cancel(call: Call, params: MemberParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("force_cancel")
    cancelled = await hosted.run(member_ops.force_cancel, mob, params.agent_identity)
    return ForceCancelResult(cancelled=cancelled).model_dump()


async def mob_append_system_context(call: Call, params: AppendSystemContextParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("append_system_context")
    status = await hosted.run(member_ops.append_system_context, mob, params.agent_identity, params.text,
                              params.source, params.idempotency_key)
    return AppendSystemContextResult(mob_id=hosted.id, agent_identity=params.agent_identity,
                                     status=status).model_dump()


async def mob_turn_start(call: Call, params: MobTurnStartParams) -> dict[str, Any]:
    """``turn/start`` on a turn-driven member: the run result, with ``session/event`` notifications."""
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("turn_start")
    name = params.agent_identity
    view = await hosted.run(member_ops.member_view, mob, name)
    if view["runtime_mode"] != "turn_driven":
        raise NotTurnDrivenError(
            f"mob/turn_start is only valid for turn_driven members; {name} is {view['runtime_mode']} (it runs "
            "its own turns): send it work with mob/member_send", details={"mob_id": hosted.id, "agent_identity": name})
    entry = await hosted.entry(name)
    if params.model is not None:
        await entry.call("set_model", params.model, params.provider)
    instructions = params.instructions()
    if instructions is not None:
        await entry.call("set_instructions", instructions)
    prompt = params.prompt if isinstance(params.prompt, str) else UserRow(content=params.prompt)
    return await run_turn(call, entry, prompt)


async def mob_ensure_member(call: Call, params: EnsureMemberParams) -> dict[str, Any]:
    """Spawn the member unless it exists (then its ``mob/members`` entry)."""
    hosted = _hosted(call, params.mob_id)
    hosted.require_running("ensure_member")
    name = params.spec.agent_identity
    if name not in hosted.roles:
        try:
            name = await hosted.spawn(params.spec)
        except MemberExistsError:
            pass  # spawned meanwhile (a concurrent ensure_member): it exists
        else:
            receipt = {"agent_identity": name, "member_ref": member_ref(hosted.id, name)}
            return EnsureMemberResult(outcome=EnsureOutcome.model_validate({"spawned": receipt})).model_dump(
                exclude_none=True)
    row = next(r for r in await _rows(call, params.mob_id) if r["agent_identity"] == name)
    return EnsureMemberResult(outcome=EnsureOutcome.model_validate({"existed": row})).model_dump(exclude_none=True)


async def mob_wire_members_batch(call: Call, params: WireMembersBatchParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("wire_members_batch")
    wired, already = await hosted.run(member_ops.wire_members_batch, mob, [(e.a, e.b) for e in params.edges])
    return WireMembersBatchResult(requested=len(params.edges), wired=[Edge(a=a, b=b) for a, b in wired],
                                  already_wired=[Edge(a=a, b=b) for a, b in already]).model_dump()


async def mob_destroy(call: Call, params: MobIdParams) -> dict[str, Any]:
    """``mob/lifecycle destroy`` (the same code), answered with upstream's ``destroy_report``."""
    hosted = _hosted(call, params.mob_id)
    members = sorted(view["name"] for view in await hosted.members())
    spec = call.host.registry.get("mob/lifecycle")
    assert spec is not None
    await spec.handler(call, MobLifecycleParams(mob_id=params.mob_id, action="destroy"))
    report = {"remote_cleanup_deadline_exceeded": False, "metadata_scrubbed": True, "events_cleared": True,
              "namespace_cleaned": True, "retired_members": members, "errors": []}
    return DestroyResult(mob_id=params.mob_id, ok=True, destroy_report=report).model_dump()


# -- helpers: spawn, one turn, retire -------------------------------------------------------------------
async def mob_spawn_helper(call: Call, params: SpawnHelperParams) -> dict[str, Any]:
    return await _helper(call, params, None)


async def mob_fork_helper(call: Call, params: ForkHelperParams) -> dict[str, Any]:
    """:func:`mob_spawn_helper`, the helper starting from a copy of the source member's transcript (forked
    helpers are always turn-driven: the copy is in place before their one turn)."""
    return await _helper(call, params, params.source_member_id)


async def _helper(call: Call, params: SpawnHelperParams, source: str | None) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("fork_helper" if source else "spawn_helper")
    profiles = list(mob.definition.profiles)
    role = params.role_name or profiles[0]
    if role not in mob.definition.profiles:
        raise ProfileNotFoundError(f"profile not found: {role} (mob {hosted.id} has profiles: {', '.join(profiles)})",
                                   details={"mob_id": hosted.id, "profile": role})
    source_session = None
    if source is not None:
        source_session = (await hosted.run(member_ops.member_view, mob, source))["session_id"]
    name = params.agent_identity or f"helper-{uuid.uuid4().hex[:8]}"
    mode = "turn_driven" if source is not None else (params.runtime_mode or "turn_driven")
    forked = source_session is not None
    spec = SpawnSpec(profile=role, agent_identity=name, runtime_mode=mode,
                     initial_message=None if forked or params.model_override else params.prompt)
    cursor = mob.events_log.latest
    name = await hosted.spawn(spec)
    try:
        session_id = (await hosted.entry(name)).session_id
        start = await hosted.run(_prepare, mob, name, source_session, params)
        settled = await hosted.run(mob.wait_for_event, lambda e: e.get("member") == name and e.type in (
            "turn_committed", "message_dead_lettered"), after=cursor, timeout=HELPER_TURN_TIMEOUT_S)
    finally:
        retirement_error = None
        try:
            await hosted.run(mob.retire, name)
            await hosted.forget(name)
        except Exception as exc:  # reported in the result, as upstream does
            retirement_error = f"{type(exc).__name__}: {exc}"
    ok = settled.type == "turn_committed"
    text = str(settled.get("text") or "") if ok else str(settled.get("error") or "the helper's turn failed")
    rows = await hosted.run(mob.services.store.history, session_id, offset=start)
    usage = _usage(rows)
    raw = text.encode()
    cut = len(raw) > params.max_text_bytes
    bounded = raw[:params.max_text_bytes].decode(errors="ignore") if cut else text
    status = ("completed" if ok else "failed") + ("_truncated" if cut else "")
    result = HelperResult(
        output=text if ok else "", tokens_used=usage.total_tokens or usage.input_tokens + usage.output_tokens,
        agent_identity=name, member_ref=member_ref(hosted.id, name),
        bounded_result=BoundedResult.model_validate({"label": params.result_label, "status": status, "text": bounded}),
        session_id=session_id, usage={**usage.model_dump(), "cache_creation_tokens": None, "cache_read_tokens": None},
        turns=sum(isinstance(r, BlockAssistantRow) for r in rows),
        tool_calls=sum(len(r.results) for r in rows if isinstance(r, ToolResultsRow)),
        retirement_error=retirement_error)
    return result.model_dump(exclude_none=True)


def _prepare(mob: Mob, name: str, source_session: str | None, params: SpawnHelperParams) -> int:
    """Before the helper's turn (blocking): the forked transcript, the model override; then the prompt when
    it was not the spawn's initial message. Returns where the turn's rows begin in its history."""
    handle = mob.member(name)
    start = 0
    if source_session is not None:
        rows = mob.services.store.history(source_session)
        if rows:
            session = handle.proxy().session.get(timeout=handle.timeout)
            start = session.commit(rows).message_count
    if params.model_override is not None:
        handle.proxy().set_model(params.model_override).get(timeout=handle.timeout)
    if source_session is not None or params.model_override is not None:
        mob.send(name, params.prompt)
    return start


def _usage(rows: list[Any]) -> Usage:
    total = Usage()
    for row in rows:
        if isinstance(row, BlockAssistantRow) and row.usage is not None:
            total = Usage(input_tokens=total.input_tokens + row.usage.input_tokens,
                          output_tokens=total.output_tokens + row.usage.output_tokens,
                          total_tokens=total.total_tokens + row.usage.total_tokens)
    return total


__all__ = ["register_extras"]
