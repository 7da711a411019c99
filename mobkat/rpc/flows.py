"""Handlers of the flow methods of the ``mob/*`` family: ``mob/flows``, ``mob/flow_run``, ``mob/run``,
``mob/flow_status``, ``mob/run_result``, ``mob/flow_cancel`` (Meerkat's shapes, :mod:`mobkat.wire.flows`).

A run is persisted (``pending``) before ``mob/flow_run`` answers and runs in the background; an unknown flow
is ``-32602 flow not found: x`` (``data.code`` ``flow_not_found``), a malformed run id ``-32602 Invalid
run_id: x``, an unknown run ``{}`` (``mob/flow_status``, ``mob/run_result``) or ``{"canceled": false}``."""

from __future__ import annotations

from typing import Any

from mobkat.rpc.hosted_mob import HostedMob
from mobkat.rpc.registry import Call, Family
from mobkat.wire.flows import (
    FlowCancelResult,
    FlowRunParams,
    FlowRunResult,
    FlowStatusResult,
    MobFlowsResult,
    MobRunParams,
    RunIdParams,
    RunResultResult,
)
from mobkat.wire.mob import MobIdParams


def register_flows(family: Family) -> None:
    """Add the six flow methods to the ``mob`` family."""
    family.add("mob/flows", MobIdParams, mob_flows)
    family.add("mob/flow_run", FlowRunParams, mob_flow_run)
    family.add("mob/run", MobRunParams, mob_run)
    family.add("mob/flow_status", RunIdParams, mob_flow_status)
    family.add("mob/run_result", RunIdParams, mob_run_result)
    family.add("mob/flow_cancel", RunIdParams, mob_flow_cancel)


def _hosted(call: Call, mob_id: str) -> HostedMob:
    return call.host.mobs.get(mob_id)


async def mob_flows(call: Call, params: MobIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    return MobFlowsResult(mob_id=hosted.id, flows=list(hosted.mob.definition.flows)).model_dump()


async def mob_flow_run(call: Call, params: FlowRunParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("flow_run")
    run_id = await hosted.run(mob.run_flow, params.flow_id, params.params)
    return FlowRunResult(run_id=run_id).model_dump()


async def mob_run(call: Call, params: MobRunParams) -> dict[str, Any]:
    """``mob/flow_run`` of ``flow_id`` (default ``main``) with ``prompt`` as ``params.prompt``."""
    hosted = _hosted(call, params.mob_id)
    mob = hosted.require_running("run")
    flow_id, activation = params.activation()
    run_id = await hosted.run(mob.run_flow, flow_id, activation)
    return FlowRunResult(run_id=run_id).model_dump()


async def mob_flow_status(call: Call, params: RunIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    run = await hosted.run(hosted.mob.flow_status, params.run_id)
    return {} if run is None else FlowStatusResult(run=run).model_dump(mode="json")


async def mob_run_result(call: Call, params: RunIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    envelope = await hosted.run(hosted.mob.run_result, params.run_id)
    return {} if envelope is None else RunResultResult(run=envelope).model_dump(mode="json")


async def mob_flow_cancel(call: Call, params: RunIdParams) -> dict[str, Any]:
    hosted = _hosted(call, params.mob_id)
    canceled = await hosted.run(hosted.mob.cancel_flow, params.run_id)
    return FlowCancelResult(canceled=canceled).model_dump()


__all__ = ["register_flows"]
