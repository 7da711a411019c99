"""The upstream Meerkat SDK's flow calls (meerkat-sdk 0.8.26, unmodified) against ``mobkat-rpc``:
``Mob.flows``, ``run_flow``, ``run``, ``flow_status``, ``run_result``, ``cancel_flow``."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from meerkat import MeerkatClient, MeerkatError
from meerkat.mob import Mob

from tests.rpc.helpers import poll_mob_events

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
WRITERS = {
    "id": "writers",
    "profiles": {"writer": TEXT, "checker": {**TEXT, "output_schema": {
        "type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}}},
    "flows": {
        "review": {"description": "write a line, then check it", "steps": {
            "write": {"role": "writer", "message": "Write one line about {{ params.topic }}."},
            "check": {"role": "checker", "message": "Check this line: {{ steps.write.output.writer }}",
                      "depends_on": ["write"]}}},
        "main": {"steps": {"echo": {"role": "writer", "message": "{{ params.prompt }}",
                                    "collection_policy": {"type": "any"}}}},
    },
}


async def _finished(mob: Mob, run_id: str) -> dict[str, Any]:
    async def read(cursor: int) -> list[dict[str, Any]]:
        return list((await mob.read_events(after_cursor=cursor))["events"])

    return await poll_mob_events(read, lambda k: k.get("run_id") == run_id and k["type"] in (
        "flow_completed", "flow_failed", "flow_canceled"), timeout=30)


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_runs_and_reads_flows(tmp_path: Path) -> None:
    asyncio.run(_writers(tmp_path))


async def _writers(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk-flows", state_root=str(tmp_path / "state"))
    try:
        mob = await client.create_mob(definition=WRITERS)
        await mob.spawn(profile="writer", agent_identity="writer")
        await mob.spawn(profile="checker", agent_identity="checker")
        assert await mob.flows() == ["review", "main"]

        run_id = await mob.run_flow("review", {"topic": "tides"})
        uuid.UUID(run_id)
        assert (await _finished(mob, run_id))["kind"]["type"] == "flow_completed"
        run = await mob.flow_status(run_id)
        assert run is not None
        assert (run["run_id"], run["mob_id"], run["flow_id"], run["status"]) == (run_id, "writers", "review",
                                                                                 "completed")
        assert run["activation_params"] == {"topic": "tides"}
        assert [(e["step_id"], e["status"], e["agent_identity"]) for e in run["step_ledger"]] == [
            ("write", "dispatched", "__flow_system_member__"), ("write", "completed", "__flow_system_member__"),
            ("check", "dispatched", "__flow_system_member__"), ("check", "completed", "__flow_system_member__")]
        assert run["root_step_outputs"]["write"] == {"writer": "You said: Write one line about tides."}
        assert run["root_step_outputs"]["check"] == {"checker": {"ok": True}}
        assert run["failure_ledger"] == []

        result = await mob.run_result(run_id)
        assert result is not None and result["status"] == "completed"
        assert result["outputs"] == run["root_step_outputs"] and result["result"] == {"steps": result["outputs"]}

        sugar = await mob.run(prompt="Go.")  # flow "main", params.prompt
        await _finished(mob, sugar)
        echoed = await mob.run_result(sugar)
        assert echoed is not None and echoed["result"] == "You said: Go."

        await mob.cancel_flow(run_id)  # finished: a no-op
        assert (await mob.flow_status(run_id) or {})["status"] == "completed"
        assert await mob.flow_status(str(uuid.uuid4())) is None
        assert await mob.run_result(str(uuid.uuid4())) is None

        with pytest.raises(MeerkatError) as unknown:
            await mob.run_flow("nope")
        assert unknown.value.code == "-32602" and "flow not found: nope" in unknown.value.message
        with pytest.raises(MeerkatError) as bad_id:
            await mob.flow_status("not-a-uuid")
        assert bad_id.value.code == "-32602" and "Invalid run_id: not-a-uuid" in bad_id.value.message
    finally:
        await client.close()
