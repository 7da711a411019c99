"""The member calls upstream's SDK makes (issue #15 C), through raw JSON-RPC against a real ``mobkat rpc``."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
CREW = {"id": "crew", "profiles": {"lead": {"model": "gpt-5.5", "external_addressable": True}, "worker": TEXT}}


async def _error(rpc: RawRpc, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await rpc.call(method, params)
    assert "error" in response, response
    error: dict[str, Any] = response["error"]
    return error


def test_reads_waits_and_roster_calls(tmp_path: Path) -> None:
    asyncio.run(_reads(tmp_path))


async def _reads(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "extras")
    try:
        methods = (await rpc.result("initialize", {}))["methods"]
        for method in ("mob/member_status", "mob/force_cancel", "mob/wait_ready", "mob/wait_kickoff",
                       "mob/append_system_context", "mob/turn_start", "mob/snapshot", "mob/ensure_member",
                       "mob/list_members_matching", "mob/wire_members_batch", "mob/destroy", "mob/spawn_helper",
                       "mob/fork_helper"):
            assert method in methods
        await rpc.result("mob/create", {"definition": CREW})
        await rpc.result("mob/spawn", {"mob_id": "crew", "profile": "lead", "agent_identity": "lead"})
        await rpc.result("mob/spawn", {"mob_id": "crew", "profile": "worker", "agent_identity": "w1",
                                       "labels": {"team": "x"}})

        kicked = (await rpc.result("mob/wait_kickoff", {"mob_id": "crew", "timeout_ms": 20000}))["members"]
        by_name = {m["agent_identity"]: m for m in kicked}
        assert by_name["lead"]["kickoff"] == {"phase": "started"} and by_name["lead"]["tokens_used"] > 0
        assert "kickoff" not in by_name["w1"] and by_name["w1"]["status"] == "active"  # turn-driven: no kickoff
        ready = await rpc.result("mob/wait_ready", {"mob_id": "crew", "member_ids": ["w1"]})
        assert [m["agent_identity"] for m in ready["members"]] == ["w1"]
        late = await _error(rpc, "mob/wait_ready", {"mob_id": "crew", "member_ids": ["ghost"], "timeout_ms": 100})
        assert late["code"] == -32602 and late["message"].startswith("member ready wait timed out")

        status = await rpc.result("mob/member_status", {"mob_id": "crew", "agent_identity": "lead"})
        assert status["status"] == "active" and status["is_final"] is False and status["kickoff"]["phase"] == "started"
        assert json.loads(base64.urlsafe_b64decode(status["member_ref"] + "==")) == {"m": "crew", "a": "lead"}
        assert status["output_preview"] and status["peer_connectivity"]["status"] == "known"
        missing = await _error(rpc, "mob/member_status", {"mob_id": "crew", "agent_identity": "ghost"})
        assert missing["code"] == -32602 and "mob member not found: ghost" in missing["message"]

        snapshot = await rpc.result("mob/snapshot", {"mob_id": "crew"})
        assert snapshot["status"] == "Running" and [m["agent_identity"] for m in snapshot["members"]] == ["lead", "w1"]
        matching = await rpc.result("mob/list_members_matching",
                                    {"mob_id": "crew", "filter": {"labels": {"team": "x"}}})
        assert [m["agent_identity"] for m in matching["members"]] == ["w1"]
        by_role = await rpc.result("mob/list_members_matching", {"mob_id": "crew", "filter": {"role": "lead"}})
        assert [m["agent_identity"] for m in by_role["members"]] == ["lead"]
        assert (await rpc.result("mob/list_members_matching",
                                 {"mob_id": "crew", "filter": {"status": "broken"}}))["members"] == []

        existed = await rpc.result("mob/ensure_member", {"mob_id": "crew", "spec": {
            "profile": "worker", "agent_identity": "w1", "initial_message": None}})
        assert existed["outcome"]["existed"]["agent_identity"] == "w1"
        spawned = await rpc.result("mob/ensure_member", {"mob_id": "crew", "spec": {"profile": "worker",
                                                                                     "agent_identity": "w2"}})
        assert spawned["outcome"]["spawned"]["agent_identity"] == "w2"

        batch = {"mob_id": "crew", "edges": [{"a": "w1", "b": "w2"}, {"a": "lead", "b": "w1"}]}
        first = await rpc.result("mob/wire_members_batch", batch)
        assert first == {"requested": 2, "wired": batch["edges"], "already_wired": []}
        again = await rpc.result("mob/wire_members_batch", batch)
        assert again == {"requested": 2, "wired": [], "already_wired": batch["edges"]}
        bad = await _error(rpc, "mob/wire_members_batch", {"mob_id": "crew", "edges": [{"a": "w1", "b": "ghost"}]})
        assert bad["code"] == -32602 and "ghost" in bad["message"]
    finally:
        await rpc.close()


def test_member_calls_helpers_and_destroy(tmp_path: Path) -> None:
    asyncio.run(_calls(tmp_path))


async def _calls(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "calls")
    try:
        await rpc.result("mob/create", {"definition": CREW})
        await rpc.result("mob/spawn", {"mob_id": "crew", "profile": "lead", "agent_identity": "lead"})
        await rpc.result("mob/spawn", {"mob_id": "crew", "profile": "worker", "agent_identity": "w1"})

        note = {"mob_id": "crew", "agent_identity": "w1", "text": "The user is Ada.", "source": "crm",
                "idempotency_key": "k1"}
        assert (await rpc.result("mob/append_system_context", note))["status"] == "applied"
        assert await rpc.result("mob/append_system_context", note) == {
            "mob_id": "crew", "agent_identity": "w1", "status": "duplicate"}
        clash = await _error(rpc, "mob/append_system_context", {**note, "text": "The user is Bob."})
        assert clash["code"] == -32602 and "idempotency_key 'k1' was already used" in clash["message"]

        turn = await rpc.result("mob/turn_start", {"mob_id": "crew", "agent_identity": "w1", "prompt": "hello"})
        members = (await rpc.result("mob/members", {"mob_id": "crew"}))["members"]
        w1_session = next(m for m in members if m["agent_identity"] == "w1")["current_session_id"]
        assert turn["session_id"] == w1_session and turn["text"]
        assert any(n["method"] == "session/event" and n["params"]["session_id"] == w1_session
                   for n in rpc.notifications)
        history = (await rpc.result("session/history", {"session_id": w1_session}))["messages"]
        assert history[0]["role"] == "system" and history[0]["content"] == "The user is Ada."
        autonomous = await _error(rpc, "mob/turn_start", {"mob_id": "crew", "agent_identity": "lead", "prompt": "x"})
        assert autonomous["code"] == -32602 and "only valid for turn_driven members" in autonomous["message"]

        assert await rpc.result("mob/force_cancel", {"mob_id": "crew", "agent_identity": "w1"}) == {"cancelled": False}
        ghost = await _error(rpc, "mob/force_cancel", {"mob_id": "crew", "agent_identity": "ghost"})
        assert "mob member not found: ghost" in ghost["message"]

        helper = await rpc.result("mob/spawn_helper", {
            "mob_id": "crew", "prompt": "Summarize the plan.", "result_label": "digest", "max_text_bytes": 8,
            "agent_identity": "h1", "role_name": "worker", "model_override": None, "auth_binding": None,
            "runtime_mode": None, "backend": None})
        assert helper["agent_identity"] == "h1" and helper["turns"] >= 1 and helper["tokens_used"] > 0
        assert helper["bounded_result"]["label"] == "digest"
        assert helper["bounded_result"]["status"] == "completed_truncated"
        assert len(helper["bounded_result"]["text"].encode()) <= 8 and helper["output"].startswith(
            helper["bounded_result"]["text"])
        members = (await rpc.result("mob/members", {"mob_id": "crew"}))["members"]
        assert "h1" not in [m["agent_identity"] for m in members]

        fork = await rpc.result("mob/fork_helper", {
            "mob_id": "crew", "source_member_id": "w1", "prompt": "What do you know?", "result_label": "facts",
            "max_text_bytes": 4096, "agent_identity": None, "role_name": None, "model_override": None,
            "auth_binding": None, "fork_context": None, "runtime_mode": None, "backend": None})
        assert fork["agent_identity"].startswith("helper-") and fork["bounded_result"]["status"] == "completed"
        forked = (await rpc.result("session/history", {"session_id": fork["session_id"]}))["messages"]
        assert forked[0]["content"] == "The user is Ada." and forked[-1]["role"] == "block_assistant"
        refused = await _error(rpc, "mob/fork_helper", {"mob_id": "crew", "source_member_id": "w1", "prompt": "x",
                                                        "result_label": "l", "max_text_bytes": 1,
                                                        "fork_context": {"depth": 3}})
        assert refused["code"] == -32602 and "fork_context" in refused["message"]

        destroyed = await rpc.result("mob/destroy", {"mob_id": "crew"})
        assert destroyed["mob_id"] == "crew" and destroyed["ok"] is True
        assert destroyed["destroy_report"]["retired_members"] == ["lead", "w1"]
        assert (await rpc.result("mob/list", {}))["mobs"] == []
        gone = await _error(rpc, "mob/status", {"mob_id": "crew"})
        assert "mob not found: crew" in gone["message"]
    finally:
        await rpc.close()
