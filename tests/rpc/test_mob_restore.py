"""``mobkat rpc`` restarted on the same state root and realm restores its mobs (SIGKILL or a clean stop): the
state, members on their sessions at generation + 1 (``member_restored``), wiring, and the event cursor; the
lifecycle actions over the wire, and an illegal one as -32602 ``invalid_transition`` naming the state."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc, poll_mob_events

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "external_addressable": True}


async def _start(state: Path) -> RawRpc:
    return await RawRpc.start("--simulator", "--state-root", str(state), "--realm", "keep")


async def _events(rpc: RawRpc, mob_id: str, after: int = 0) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = (await rpc.result("mob/events", {"mob_id": mob_id, "after_cursor": after,
                                                                    "limit": 1000}))["events"]
    return events


async def _say(rpc: RawRpc, mob_id: str, member: str, text: str) -> dict[str, Any]:
    await rpc.result("mob/member_send", {"mob_id": mob_id, "agent_identity": member, "content": text})
    return await poll_mob_events(lambda after: _events(rpc, mob_id, after),
                                 lambda k: k["type"] == "turn_committed" and k["member"] == member
                                 and k.get("text") == f"You said: {text}")


async def _members(rpc: RawRpc, mob_id: str) -> dict[str, dict[str, Any]]:
    found = (await rpc.result("mob/members", {"mob_id": mob_id}))["members"]
    return {m["agent_identity"]: m for m in found}


async def _user_turns(rpc: RawRpc, session_id: str) -> list[str]:
    history = await rpc.result("session/history", {"session_id": session_id})
    return [m["content"] for m in history["messages"] if m["role"] == "user"]


def test_sigkill_then_restart_restores_the_mob(tmp_path: Path) -> None:
    asyncio.run(_sigkill(tmp_path))


async def _sigkill(state: Path) -> None:
    rpc = await _start(state)
    await rpc.result("mob/create", {"definition": {"id": "crew", "profiles": {"a": TEXT, "b": TEXT}}})
    await rpc.result("mob/create", {"definition": {"id": "idle", "profiles": {"a": TEXT}}})
    for name in ("a", "b"):
        await rpc.result("mob/spawn", {"mob_id": "crew", "profile": name, "agent_identity": name})
    await rpc.result("mob/wire", {"mob_id": "crew", "member": "a", "peer": "b"})
    await rpc.result("mob/spawn", {"mob_id": "idle", "profile": "a", "agent_identity": "a"})
    await rpc.result("mob/lifecycle", {"mob_id": "idle", "action": "stop"})
    await _say(rpc, "crew", "a", "before the kill")
    before = await _members(rpc, "crew")
    seen = await _events(rpc, "crew")
    rpc.process.send_signal(signal.SIGKILL)
    assert await rpc.process.wait() == -signal.SIGKILL

    rpc = await _start(state)
    try:
        listed = (await rpc.result("mob/list"))["mobs"]
        assert sorted((m["mob_id"], m["status"]) for m in listed) == [("crew", "Running"), ("idle", "Stopped")]
        after = await _members(rpc, "crew")
        assert {n: (m["current_session_id"], m["generation"], m["wired_to"]) for n, m in after.items()} == {
            n: (m["current_session_id"], m["generation"] + 1, m["wired_to"]) for n, m in before.items()}
        assert list(await _members(rpc, "idle")) == ["a"]  # a stopped mob's roster, no member running
        events = await _events(rpc, "crew")
        restored = next(e for e in events if e["kind"]["type"] == "mob_restored")
        previous = restored["kind"]["previous_cursor"]
        assert restored["cursor"] == previous + 1  # the cursor continues after the last stored event
        assert [e for e in events if e["cursor"] <= previous] == [e for e in seen if e["cursor"] <= previous]
        members_back = [e["kind"] for e in events if e["kind"]["type"] == "member_restored"]
        assert sorted((k["member"], k["generation"], k["session_id"], k["reason"]) for k in members_back) == sorted(
            (n, m["generation"] + 1, m["current_session_id"], "restart") for n, m in before.items())
        await _say(rpc, "crew", "a", "after the kill")  # the restored member runs on its session
        session_a = before["a"]["current_session_id"]
        assert await _user_turns(rpc, session_a) == ["before the kill", "after the kill"]  # once each, in order
        turn = await rpc.result("turn/start", {"session_id": before["b"]["current_session_id"], "prompt": "hi b"})
        assert turn["text"] == "You said: hi b"  # the restored member's session is served by id
    finally:
        await rpc.close()

    rpc = await _start(state)  # a clean stop keeps every event: the log continues exactly
    try:
        assert [m["generation"] for m in (await _members(rpc, "crew")).values()] == [
            m["generation"] + 2 for m in before.values()]
        events = await _events(rpc, "crew")
        kinds = [e["kind"]["type"] for e in events]
        assert kinds.count("mob_restored") == 2 and "mob_shutdown" in kinds
        assert [e["cursor"] for e in events] == list(range(events[0]["cursor"], events[-1]["cursor"] + 1))
    finally:
        await rpc.close()


def test_lifecycle_over_the_wire(tmp_path: Path) -> None:
    asyncio.run(_lifecycle(tmp_path))


async def _lifecycle(state: Path) -> None:
    rpc = await _start(state)
    try:
        await rpc.result("mob/create", {"definition": {"id": "cycle", "profiles": {"a": TEXT}}})
        await rpc.result("mob/spawn", {"mob_id": "cycle", "profile": "a", "agent_identity": "a"})
        session_id = (await _members(rpc, "cycle"))["a"]["current_session_id"]

        async def act(action: str) -> dict[str, Any]:
            return await rpc.call("mob/lifecycle", {"mob_id": "cycle", "action": action})

        assert (await act("complete"))["result"] == {"mob_id": "cycle", "action": "complete", "ok": True}
        assert (await rpc.result("mob/status", {"mob_id": "cycle"}))["status"] == "Completed"
        assert await _members(rpc, "cycle") == {}
        refused = (await act("resume"))["error"]
        assert refused["code"] == -32602 and refused["data"]["kind"] == "invalid_transition"
        assert refused["message"].startswith("invalid state transition: Completed -> Running (mob cycle is Completed")
        assert refused["data"]["details"] == {"mob_id": "cycle", "state": "Completed", "action": "resume",
                                              "allowed_from": ["Stopped"]}
        spawn = await rpc.call("mob/spawn", {"mob_id": "cycle", "profile": "a", "agent_identity": "a"})
        assert spawn["error"]["data"]["kind"] == "invalid_transition" and "Completed" in spawn["error"]["message"]
        assert (await act("reset"))["result"]["ok"] is True
        assert (await rpc.result("mob/status", {"mob_id": "cycle"}))["status"] == "Running"
        await rpc.result("mob/spawn", {"mob_id": "cycle", "profile": "a", "agent_identity": "a"})
        assert (await _members(rpc, "cycle"))["a"]["current_session_id"] != session_id
        kinds = [e["kind"]["type"] for e in await _events(rpc, "cycle")]
        assert kinds[-4:] == ["member_retired", "mob_completed", "mob_reset", "member_spawned"]
        assert (await act("destroy"))["result"]["ok"] is True
        assert (await rpc.call("mob/status", {"mob_id": "cycle"}))["error"]["data"]["kind"] == "mob_not_found"
    finally:
        await rpc.close()
    rpc = await _start(state)  # destroyed: not restored
    try:
        assert (await rpc.result("mob/list"))["mobs"] == []
    finally:
        await rpc.close()
