"""The flow methods over raw JSON-RPC (a real server process on stdio, simulator): ``mob/flows``,
``mob/flow_run``, ``mob/run``, ``mob/flow_status``, ``mob/run_result``, ``mob/flow_cancel``, their exact
shapes and refusals; definitions with upstream-only keys load."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc, poll_mob_events, server_env

ROOT = Path(__file__).resolve().parents[2]
FLOW_METHODS = ["mob/flows", "mob/flow_run", "mob/run", "mob/flow_status", "mob/run_result", "mob/flow_cancel"]
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


async def finished(rpc: RawRpc, mob_id: str, run_id: str) -> dict[str, Any]:
    async def read(cursor: int) -> list[dict[str, Any]]:
        page = await rpc.result("mob/events", {"mob_id": mob_id, "after_cursor": cursor})
        return list(page["events"])

    return await poll_mob_events(read, lambda k: k.get("run_id") == run_id and k["type"] in (
        "flow_completed", "flow_failed", "flow_canceled"), timeout=30)


def test_flow_methods_over_raw_json_rpc(tmp_path: Path) -> None:
    asyncio.run(_flow_methods(tmp_path))


async def _flow_methods(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "flows",
                             "--definitions-root", str(ROOT / "mobs"), env=server_env())
    try:
        methods = (await rpc.result("initialize", {}))["methods"]
        assert [m for m in methods if m in FLOW_METHODS] == FLOW_METHODS
        assert await rpc.result("mob/create", {"path": "flow-demo.toml"}) == {"mob_id": "flow-demo"}
        for name in ("researcher", "writer", "reviewer"):
            await rpc.result("mob/spawn", {"mob_id": "flow-demo", "profile": name, "agent_identity": name})
        assert await rpc.result("mob/flows", {"mob_id": "flow-demo"}) == {"mob_id": "flow-demo", "flows": ["main"]}

        started = await rpc.result("mob/run", {"mob_id": "flow-demo", "prompt": "dunes", "params": None})
        assert set(started) == {"run_id"}
        run_id = started["run_id"]
        assert (await finished(rpc, "flow-demo", run_id))["kind"]["type"] == "flow_completed"
        run = (await rpc.result("mob/flow_status", {"mob_id": "flow-demo", "run_id": run_id}))["run"]
        assert {k: run[k] for k in ("run_id", "mob_id", "flow_id", "status", "activation_params")} == {
            "run_id": run_id, "mob_id": "flow-demo", "flow_id": "main", "status": "completed",
            "activation_params": {"prompt": "dunes"}}
        assert run["step_ledger"][0] == {"step_id": "research", "agent_identity": "__flow_system_member__",
                                         "status": "dispatched", "output": None, "reason": None}
        research = "You said: Find three facts about dunes."
        assert run["root_step_outputs"]["research"] == research
        assert run["root_step_outputs"]["draft"] == f"You said: Write a paragraph from these facts: {research}"
        assert run["root_step_outputs"]["review"]["verdict"] == "approve"
        assert run["failure_ledger"] == [] and run["schema_version"] == 1

        result = (await rpc.result("mob/run_result", {"mob_id": "flow-demo", "run_id": run_id}))["run"]
        assert result["outputs"] == run["root_step_outputs"] and result["result"] == {"steps": result["outputs"]}
        assert await rpc.result("mob/flow_cancel", {"mob_id": "flow-demo", "run_id": run_id}) == {"canceled": False}

        kinds = [e["kind"] for e in (await rpc.result("mob/events", {"mob_id": "flow-demo", "limit": 1000}))["events"]
                 if e["kind"].get("run_id") == run_id]
        assert kinds[0] == {"type": "flow_started", "run_id": run_id, "flow_id": "main", "params": {"prompt": "dunes"}}
        assert [k["type"] for k in kinds].count("step_completed") == 3 and kinds[-1]["type"] == "flow_completed"

        other = await rpc.result("mob/flow_run", {"mob_id": "flow-demo", "flow_id": "main",
                                                  "params": {"prompt": "tides"}})
        assert (await finished(rpc, "flow-demo", other["run_id"]))["kind"]["type"] == "flow_completed"

        unknown = str(uuid.uuid4())
        assert await rpc.result("mob/flow_status", {"mob_id": "flow-demo", "run_id": unknown}) == {}
        assert await rpc.result("mob/run_result", {"mob_id": "flow-demo", "run_id": unknown}) == {}
        bad = (await rpc.call("mob/flow_status", {"mob_id": "flow-demo", "run_id": "nope"}))["error"]
        assert bad["code"] == -32602 and bad["message"].startswith("Invalid run_id: nope")
        missing = (await rpc.call("mob/flow_run", {"mob_id": "flow-demo", "flow_id": "review"}))["error"]
        assert missing["code"] == -32602 and missing["message"].startswith("flow not found: review")
        assert missing["data"]["kind"] == "flow_not_found"
        extra = (await rpc.call("mob/flow_run", {"mob_id": "flow-demo", "flow_id": "main", "prio": 1}))["error"]
        assert extra["code"] == -32602 and "prio" in extra["message"]
    finally:
        assert await rpc.close() == 0


def test_upstream_definitions_with_unimplemented_keys_load(tmp_path: Path) -> None:
    asyncio.run(_upstream_keys(tmp_path))


async def _upstream_keys(tmp_path: Path) -> None:
    definition = {"id": "up", "profiles": {"lead": {**TEXT, "max_inline_peer_notifications": 5,
                                                    "tools": {"comms": True, "mcp": ["search"]}}},
                  "topology": {"mode": "strict", "rules": []}, "spawn_policy": {"mode": "none"},
                  "flows": {"main": {"steps": {"go": {"role": "lead", "message": "{{ params.prompt }}"}}}}}
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), env=server_env())
    try:
        assert await rpc.result("mob/create", {"definition": definition}) == {"mob_id": "up"}
        bad = (await rpc.call("mob/create", {"definition": {**definition, "id": "up2", "topologie": {}}}))["error"]
        assert bad["code"] == -32602 and "topologie" in bad["message"]
        cycle = {**definition, "id": "up3", "flows": {"main": {"steps": {
            "a": {"role": "lead", "message": "x", "depends_on": ["b"]},
            "b": {"role": "lead", "message": "y", "depends_on": ["a"]}}}}}
        refused = (await rpc.call("mob/create", {"definition": cycle}))["error"]
        assert refused["message"] == "<json>: flows.main.steps.a.depends_on: dependency cycle: a -> b -> a"
    finally:
        assert await rpc.close() == 0
