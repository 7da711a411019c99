"""The unmodified Meerkat SDK's (0.8.26) member calls against ``mobkat-rpc`` (issue #15 C): status, waits,
force-cancel, system context, mob turn_start, snapshot, ensure_member, filtered listing, batch wiring,
helpers and destroy. The SDK parses most of these results strictly (``INVALID_RESPONSE`` otherwise)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from meerkat import MeerkatClient, MeerkatError

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
CREW = {"id": "crew", "profiles": {"lead": {"model": "gpt-5.5"}, "worker": TEXT}}


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_member_calls(tmp_path: Path) -> None:
    asyncio.run(_calls(tmp_path))


async def _calls(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk-calls", state_root=str(tmp_path / "state"))
    try:
        mob = await client.create_mob(definition=CREW)
        await mob.spawn(profile="lead", agent_identity="lead")
        await mob.spawn(profile="worker", agent_identity="w1", labels={"team": "x"})

        kicked = await mob.wait_for_kickoff_complete(timeout_ms=20000)
        assert {m["agent_identity"]: m.get("kickoff", {}).get("phase") for m in kicked} == {
            "lead": "started", "w1": None}
        ready = await mob.wait_for_ready(member_ids=["w1"])
        assert [(m["agent_identity"], m["status"], m["is_final"]) for m in ready] == [("w1", "active", False)]
        with pytest.raises(MeerkatError) as late:
            await mob.wait_for_ready(member_ids=["nobody"], timeout_ms=100)
        assert "member ready wait timed out" in late.value.message

        status = await mob.member_status("lead")
        assert status["status"] == "active" and status["tokens_used"] > 0 and status["member_ref"]
        assert status["peer_connectivity"]["status"] == "known" and status["kickoff"]["phase"] == "started"

        applied = await mob.append_system_context("w1", "The user is Ada.", source="crm", idempotency_key="k1")
        assert applied == {"mob_id": "crew", "agent_identity": "w1", "status": "applied"}
        again = await mob.append_system_context("w1", "The user is Ada.", source="crm", idempotency_key="k1")
        assert again["status"] == "duplicate"

        turn = await client.mob_turn_start("crew", "w1", "hello there")
        assert turn["text"] and turn["turns"] >= 1
        await mob.force_cancel("w1")  # idle: a no-op, and no error

        snapshot = await client.mob_snapshot("crew")
        assert snapshot["status"] == "Running" and len(snapshot["members"]) == 2
        ensured = await client.mob_ensure_member("crew", {"profile": "worker", "agent_identity": "w2"})
        assert ensured["outcome"]["spawned"]["agent_identity"] == "w2"
        existed = await client.mob_ensure_member("crew", {"profile": "worker", "agent_identity": "w2"})
        assert existed["outcome"]["existed"]["agent_identity"] == "w2"
        matching = await client.mob_list_members_matching("crew", {"labels": {"team": "x"}})
        assert [m["agent_identity"] for m in matching["members"]] == ["w1"]

        batch = await mob.wire_members_batch([("w1", "w2"), {"a": "lead", "b": "w1"}])
        assert batch.requested == 2 and [(e.a, e.b) for e in batch.wired] == [("w1", "w2"), ("lead", "w1")]
        assert (await mob.wire_members_batch([("w1", "w2")])).already_wired[0].b == "w2"

        helper = await mob.spawn_helper("Summarize.", result_label="digest", max_text_bytes=6,
                                        agent_identity="h1", role_name="worker")
        assert helper["agent_identity"] == "h1" and helper["bounded_result"]["status"] == "completed_truncated"
        assert helper["usage"].input_tokens > 0 and helper["turns"] >= 1
        forked = await mob.fork_helper("w1", "What do you know?", result_label="facts", max_text_bytes=1000)
        assert forked["bounded_result"]["status"] == "completed" and forked["output"]

        report = await client.mob_destroy("crew")
        assert report["ok"] is True and report["destroy_report"]["retired_members"] == ["lead", "w1", "w2"]
        assert await client.list_mobs() == []
    finally:
        await client.close()
