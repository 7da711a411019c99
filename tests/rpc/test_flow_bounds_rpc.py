"""A hostile client floods ``mob/run`` / ``mob/flow_run`` on one mob (a real server process on stdio, simulator):
the first 16 runs start, every other request gets the typed ``flow_run_limit`` error (-32002) naming the mob, the
limit and the number active; the accepted runs go on, the server answers other methods, and a slot freed by
``mob/flow_cancel`` is taken by the next run."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc, server_env

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
LONG = "Read this slowly: " + "meerkats take turns standing guard " * 40  # paced: one turn takes far over a minute
MOB = {"id": "flood", "profiles": {"lead": TEXT}, "flows": {"main": {"steps": {
    "go": {"role": "lead", "message": LONG + "{{ params.prompt }}", "collection_policy": {"type": "any"},
           "timeout_ms": 300000}}}}}
FLOOD = 40


def test_a_flood_of_flow_runs_gets_typed_errors_and_the_server_goes_on(tmp_path: Path) -> None:
    asyncio.run(_flood(tmp_path))


async def _flood(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path),
                             "--realm", "r", env=server_env())
    try:
        await rpc.result("mob/create", {"definition": MOB})
        await rpc.result("mob/spawn", {"mob_id": "flood", "profile": "lead", "agent_identity": "lead"})

        for i in range(FLOOD):  # pipelined: every request is sent before any answer is read
            method, params = ("mob/run", {"prompt": f"p{i}"}) if i % 2 else (
                "mob/flow_run", {"flow_id": "main", "params": {"prompt": f"p{i}"}})
            await rpc.send({"jsonrpc": "2.0", "id": i, "method": method, "params": {"mob_id": "flood", **params}})
        answers = [await rpc.recv(timeout=30) for _ in range(FLOOD)]
        assert sorted(a["id"] for a in answers) == list(range(FLOOD))
        started = [a["result"]["run_id"] for a in answers if "result" in a]
        refused = [a["error"] for a in answers if "error" in a]
        assert len(started) == 16 and len(refused) == FLOOD - 16
        for error in refused:
            assert error["code"] == -32002
            assert error["message"] == ("mob flood has 16 active flow runs, the limit is 16; wait for one to finish "
                                        "or cancel one (mob/flow_cancel)")
            assert error["data"]["kind"] == "flow_run_limit"
            assert error["data"]["details"] == {"mob_id": "flood", "limit": 16, "active": 16}

        # the server goes on: other methods answer, the accepted runs are untouched
        assert await rpc.result("mob/list", {}) == {"mobs": [{"mob_id": "flood", "status": "Running"}]}
        assert await rpc.result("mob/flows", {"mob_id": "flood"}) == {"mob_id": "flood", "flows": ["main"]}
        for run_id in started:
            run = (await rpc.result("mob/flow_status", {"mob_id": "flood", "run_id": run_id}))["run"]
            assert run["status"] in ("pending", "running")

        # a canceled run frees its slot for exactly one more
        assert await rpc.result("mob/flow_cancel", {"mob_id": "flood", "run_id": started[0]}) == {"canceled": True}
        again = await rpc.result("mob/run", {"mob_id": "flood", "prompt": "again"})
        more: dict[str, Any] = (await rpc.call("mob/run", {"mob_id": "flood", "prompt": "more"}))["error"]
        assert more["code"] == -32002 and more["data"]["details"]["active"] == 16

        for run_id in [*started[1:], again["run_id"]]:  # leave nothing running
            assert await rpc.result("mob/flow_cancel", {"mob_id": "flood", "run_id": run_id}) == {"canceled": True}
        run = (await rpc.result("mob/flow_status", {"mob_id": "flood", "run_id": started[1]}))["run"]
        assert run["status"] == "canceled"
    finally:
        assert await rpc.close() == 0
