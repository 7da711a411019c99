"""``kill -9`` of the server in the middle of a flow, then a restart on the same state root: the mob is
restored, the interrupted run is marked ``failed`` (cause ``server_restarted``), the turns that committed
are there exactly once, and the restored mob runs flows again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc, poll_mob_events, server_env

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
LONG = "Read this slowly: " + "meerkats take turns standing guard " * 40
MOB = {"id": "relay", "profiles": {"first": TEXT, "second": TEXT}, "flows": {
    "main": {"steps": {
        "quick": {"role": "first", "message": "Go {{ params.prompt }}.", "collection_policy": {"type": "any"}},
        "slow": {"role": "second", "message": LONG + "{{ steps.quick.output }}", "depends_on": ["quick"]}}},
    "short": {"steps": {"quick": {"role": "first", "message": "Again.", "collection_policy": {"type": "any"}}}},
}}


async def _event(rpc: RawRpc, match: Any, timeout: float = 30.0) -> dict[str, Any]:
    async def read(cursor: int) -> list[dict[str, Any]]:
        return list((await rpc.result("mob/events", {"mob_id": "relay", "after_cursor": cursor}))["events"])

    return await poll_mob_events(read, match, timeout)


async def _history(rpc: RawRpc, member: str) -> list[dict[str, Any]]:
    members = (await rpc.result("mob/members", {"mob_id": "relay"}))["members"]
    session_id = next(m["current_session_id"] for m in members if m["agent_identity"] == member)
    return list((await rpc.result("session/history", {"session_id": session_id}))["messages"])


def test_kill_9_mid_flow_then_restart_restores_the_mob_and_fails_the_run(tmp_path: Path) -> None:
    asyncio.run(_kill_and_restart(tmp_path))


async def _kill_and_restart(tmp_path: Path) -> None:
    flags = ("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path), "--realm", "r")
    rpc = await RawRpc.start(*flags, env=server_env())
    try:
        await rpc.result("mob/create", {"definition": MOB})
        for name in ("first", "second"):
            await rpc.result("mob/spawn", {"mob_id": "relay", "profile": name, "agent_identity": name})
        run_id = (await rpc.result("mob/run", {"mob_id": "relay", "prompt": "now"}))["run_id"]
        await _event(rpc, lambda k: k["type"] == "step_dispatched" and k["step_id"] == "slow")
    finally:
        rpc.process.kill()  # SIGKILL: no shutdown, no flush
        await rpc.process.wait()

    rpc = await RawRpc.start(*flags, env=server_env())
    try:
        assert await rpc.result("mob/list", {}) == {"mobs": [{"mob_id": "relay", "status": "Running"}]}
        run = (await rpc.result("mob/flow_status", {"mob_id": "relay", "run_id": run_id}))["run"]
        assert run["status"] == "failed"
        assert [(f["step_id"], f["cause"]) for f in run["failure_ledger"]] == [(None, "server_restarted")]
        latest = {e["step_id"]: e["status"] for e in run["step_ledger"]}
        assert latest == {"quick": "completed", "slow": "failed"}
        assert run["root_step_outputs"] == {"quick": "You said: Go now."}
        failed = await _event(rpc, lambda k: k["type"] == "flow_failed" and k["run_id"] == run_id)
        assert failed["kind"]["cause"] == "server_restarted"

        first = await _history(rpc, "first")
        assert [(m["role"], m.get("content")) for m in first if m["role"] == "user"] == [("user", "Go now.")]
        assert sum(m["role"] == "block_assistant" for m in first) == 1  # committed once, not lost, not twice
        second = await _history(rpc, "second")
        assert sum(m["role"] == "user" for m in second) <= 1  # the interrupted step: at most its one turn

        again = (await rpc.result("mob/flow_run", {"mob_id": "relay", "flow_id": "short"}))["run_id"]
        done = await _event(rpc, lambda k: k.get("run_id") == again and k["type"] in ("flow_completed", "flow_failed"))
        assert done["kind"]["type"] == "flow_completed"
        assert len([m for m in await _history(rpc, "first") if m["role"] == "user"]) == 2
    finally:
        assert await rpc.close() == 0
