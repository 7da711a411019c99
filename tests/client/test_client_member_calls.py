"""mobkat's own client (``MobHandle``'s member calls, issue #15 C) against the real server on the simulator."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mobkat.client import MemberNotFound, MobkatClient
from tests.rpc.helpers import SERVER

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
CREW = {"id": "crew", "profiles": {"lead": {"model": "gpt-5.5"}, "worker": TEXT}}


def test_member_calls_through_mobkats_client(tmp_path: Path) -> None:
    asyncio.run(_calls(tmp_path))


async def _calls(tmp_path: Path) -> None:
    client = await MobkatClient(SERVER).connect(simulator=True, state_root=tmp_path / "state", realm_id="calls")
    try:
        mob = await client.create_mob(CREW)
        await mob.spawn("lead", "lead")
        await mob.spawn("worker", "w1", labels={"team": "x"})
        kicked = {m.agent_identity: m.kickoff for m in await mob.wait_kickoff(timeout_ms=20000)}
        assert kicked["lead"] is not None and kicked["lead"].phase == "started" and kicked["w1"] is None
        assert [m.agent_identity for m in await mob.wait_ready(["w1"])] == ["w1"]
        status = await mob.member_status("lead")
        assert status.status == "active" and status.tokens_used > 0 and status.member_ref
        with pytest.raises(MemberNotFound):
            await mob.member_status("ghost")
        assert await mob.append_system_context("w1", "Be brief.", idempotency_key="b") == "applied"
        assert await mob.append_system_context("w1", "Be brief.", idempotency_key="b") == "duplicate"
        turn = await mob.turn_start("w1", "hello")
        assert turn["text"] and turn["session_id"] == (await mob.member_status("w1")).current_session_id
        assert await mob.force_cancel("w1") is False
        assert [m.agent_identity for m in (await mob.snapshot()).members] == ["lead", "w1"]
        assert (await mob.ensure_member({"profile": "worker", "agent_identity": "w2"})).outcome.spawned is not None
        assert [m.agent_identity for m in await mob.list_members_matching(labels={"team": "x"})] == ["w1"]
        batch = await mob.wire_members_batch([("w1", "w2")])
        assert batch.requested == 1 and [(e.a, e.b) for e in batch.wired] == [("w1", "w2")]
        helper = await mob.spawn_helper("Summarize.", result_label="s", max_text_bytes=5, role_name="worker")
        assert helper.bounded_result.status == "completed_truncated" and len(helper.bounded_result.text) == 5
        forked = await mob.fork_helper("w1", "And?", result_label="f", max_text_bytes=500)
        assert forked.bounded_result.status == "completed"
        report = await mob.destroy()
        assert report.ok and report.destroy_report["retired_members"] == ["lead", "w1", "w2"]
    finally:
        await client.close()
