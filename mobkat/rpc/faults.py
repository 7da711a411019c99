"""``fault/*``: fault injection for drills and whole-deployment tests (``mobkat rpc --fault-injection``).

Never registered unless the server was started with ``--fault-injection``:

- ``fault/member_crash`` makes a mob member's actor fail as an escaped exception would. The supervisor
  restarts it (same session, history intact, next generation) or marks it broken past its restart policy;
  watch ``mob/events`` for ``member_restarted`` / ``member_broken``.
- ``fault/provider_drop`` cuts every realtime socket of the built-in simulator (``--simulator``) with no
  close frame, like a network failure: live channels go degraded and reconnect.
"""

from __future__ import annotations

from typing import Any

from mobkat.errors import INVALID_PARAMS
from mobkat.rpc.protocol import RpcError
from mobkat.rpc.registry import Call, MethodRegistry
from mobkat.wire.faults import MemberCrashParams, MemberCrashResult, ProviderDropParams, ProviderDropResult


def register(registry: MethodRegistry) -> None:
    family = registry.family("fault", "Fault injection for drills and tests: fault/* (--fault-injection)")
    family.add("fault/member_crash", MemberCrashParams, member_crash)
    family.add("fault/provider_drop", ProviderDropParams, provider_drop)


async def member_crash(call: Call, params: MemberCrashParams) -> dict[str, Any]:
    hosted = call.host.mobs.get(params.mob_id)
    mob = hosted.require_running("fault/member_crash")
    hosted.role_of(params.agent_identity)
    member = mob.member(params.agent_identity)
    info = await hosted.run(member.info)
    await hosted.run(member.crash, params.reason)
    return MemberCrashResult(mob_id=hosted.id, agent_identity=params.agent_identity,
                             generation=info["generation"]).model_dump()


async def provider_drop(call: Call, _params: ProviderDropParams) -> dict[str, Any]:
    simulator = call.host.simulator
    if simulator is None:
        raise RpcError(INVALID_PARAMS, "fault/provider_drop needs the built-in simulator (start the server with "
                       "--simulator); a real provider's sockets cannot be cut from here",
                       kind="simulator_required")
    return ProviderDropResult(dropped=simulator.drop_connections()).model_dump()
