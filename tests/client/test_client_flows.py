"""mobkat's client runs ``mobs/flow-demo.toml`` on the real server (simulator): the flow methods of
``MobHandle`` and the flow events on the mob's event stream."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from mobkat.client import MobkatClient
from mobkat.client.errors import MobRejected
from tests.client.test_client_mob import _connect, _until


def test_mob_handle_runs_lists_reads_and_cancels_flows(tmp_path: Path) -> None:
    asyncio.run(_flows(tmp_path))


async def _flows(tmp_path: Path) -> None:
    client: MobkatClient
    async with await _connect(tmp_path) as client:
        mob = await client.create_mob(path="flow-demo.toml")
        for name in ("researcher", "writer", "reviewer"):
            await mob.spawn(name, name)
        assert await mob.flows() == ["main"]
        async with mob.events() as events:
            run_id = await mob.run("meerkats")
            done = await _until(events, lambda e: e.type in ("flow_completed", "flow_failed")
                                and e.get("run_id") == run_id, timeout=30)
        assert done.type == "flow_completed"
        run = await mob.flow_status(run_id)
        assert run is not None and run.status == "completed" and run.activation_params == {"prompt": "meerkats"}
        assert run.root_step_outputs["research"] == "You said: Find three facts about meerkats."
        assert run.root_step_outputs["review"]["verdict"] == "approve"
        result = await mob.run_result(run_id)
        assert result is not None and result.outputs == run.root_step_outputs
        assert await mob.cancel_flow(run_id) is False  # finished: nothing to cancel
        unknown = str(uuid.uuid4())
        assert await mob.flow_status(unknown) is None and await mob.run_result(unknown) is None
        try:
            await mob.run_flow("nope")
        except MobRejected as exc:
            assert exc.code == "flow_not_found" and "flow not found: nope" in str(exc)
        else:
            raise AssertionError("an unknown flow was accepted")
