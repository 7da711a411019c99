"""session/inject_context, session/fork_at, session/export_atif, comms/peers, realm/list|get and the typed
refusal of methods mobkat declines, through raw JSON-RPC against a real ``mobkat rpc`` server."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc
from tests.rpc.test_turn_interrupt import SLOW, _until_delta

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


async def _error(rpc: RawRpc, method: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await rpc.call(method, params)
    assert "error" in response, response
    error: dict[str, Any] = response["error"]
    return error


def test_inject_context_appends_a_durable_system_message_once_per_key(tmp_path: Path) -> None:
    asyncio.run(_inject(tmp_path))


async def _inject(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "ctx")
    try:
        sid = (await rpc.result("session/create", {"prompt": "hello", "model": "gpt-5.5"}))["session_id"]
        note = {"session_id": sid, "content": {"type": "text", "text": "The user is Ada."}, "source": "crm",
                "idempotency_key": "k1"}
        assert await rpc.result("session/inject_context", note) == {"status": "applied"}
        assert await rpc.result("session/inject_context", note) == {"status": "duplicate"}  # same key, same text
        clash = await _error(rpc, "session/inject_context", {**note, "content": {"type": "text", "text": "Bob"}})
        assert clash["code"] == -32602 and "idempotency_key 'k1' was already used" in clash["message"]
        assert await rpc.result("session/inject_context", {"session_id": sid, "text": "plain"}) == {
            "status": "applied"}  # the older text form, no key: always appended

        both = await _error(rpc, "session/inject_context", {"session_id": sid, "text": "a",
                                                            "content": {"type": "text", "text": "b"}})
        assert both["code"] == -32602 and "exactly one of content" in both["message"]
        missing = await _error(rpc, "session/inject_context", {"session_id": str(uuid.uuid4()), "text": "x"})
        assert missing["code"] == -32001

        assert (await rpc.result("turn/start", {"session_id": sid, "prompt": "who am i"}))["text"] == \
            "You said: who am i"
        history = await rpc.result("session/history", {"session_id": sid})
        rows = history["messages"]
        assert [m["role"] for m in rows] == ["user", "block_assistant", "system", "system", "user", "block_assistant"]
        assert rows[2]["content"] == "[context from crm]\nThe user is Ada." and rows[3]["content"] == "plain"
    finally:
        assert await rpc.close() == 0
    again = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "ctx")
    try:  # durable: after a restart the key is still known and the rows are still there
        assert await again.result("session/inject_context", note) == {"status": "duplicate"}
        assert (await again.result("session/history", {"session_id": sid}))["message_count"] == 6
    finally:
        assert await again.close() == 0


def test_fork_at_copies_the_first_rows_into_a_new_session_and_export_atif_renders_it(tmp_path: Path) -> None:
    asyncio.run(_fork(tmp_path))


async def _fork(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "forks")
    try:
        sid = (await rpc.result("session/create", {"prompt": "one", "model": "gpt-5.5",
                                                   "labels": {"team": "blue"}}))["session_id"]
        await rpc.result("turn/start", {"session_id": sid, "prompt": "two"})
        fork = await rpc.result("session/fork_at", {"session_id": sid, "message_index": 2})
        assert fork["source_session_id"] == sid and fork["session_id"] != sid and fork["message_count"] == 2
        assert fork["cache_inheritance"] == {"status": "unavailable", "message_count": 2,
                                             "reason": "no_authored_breakpoint_at_boundary"}
        fid = fork["session_id"]
        assert (await rpc.result("turn/start", {"session_id": fid, "prompt": "three"}))["text"] == "You said: three"
        forked = await rpc.result("session/history", {"session_id": fid})
        assert [m.get("content") for m in forked["messages"] if m["role"] == "user"] == ["one", "three"]
        source = await rpc.result("session/history", {"session_id": sid})
        assert [m.get("content") for m in source["messages"] if m["role"] == "user"] == ["one", "two"]
        read = await rpc.result("session/read", {"session_id": fid})
        assert read["model"] == "gpt-5.5" and read["labels"] == {"team": "blue"}
        empty = await rpc.result("session/fork_at", {"session_id": sid, "message_index": 0})
        assert empty["message_count"] == 0

        past = await _error(rpc, "session/fork_at", {"session_id": sid, "message_index": 9})
        assert past["code"] == -32602 and "past the end" in past["message"]
        assert (await _error(rpc, "session/fork_at", {"session_id": sid, "message_index": -1}))["code"] == -32602
        assert (await _error(rpc, "session/fork_at", {"session_id": str(uuid.uuid4()),
                                                      "message_index": 0}))["code"] == -32001

        atif = await rpc.result("session/export_atif", {"session_id": sid, "agent_name": "desk"})
        assert atif["schema_version"] == "ATIF-v1.4" and atif["session_id"] == sid
        assert atif["agent"]["name"] == "desk" and atif["agent"]["model_name"] == "gpt-5.5"
        assert [(s["step_id"], s["source"], s["message"]) for s in atif["steps"]] == [
            (1, "user", "one"), (2, "agent", "You said: one"), (3, "user", "two"), (4, "agent", "You said: two")]
        metrics = atif["final_metrics"]
        assert metrics["total_steps"] == 4
        assert metrics["total_completion_tokens"] == sum(s["metrics"]["completion_tokens"]
                                                         for s in atif["steps"] if s["source"] == "agent") > 0
        assert (await _error(rpc, "session/export_atif", {"session_id": "nope"}))["code"] == -32001
    finally:
        assert await rpc.close() == 0


def test_comms_peers_lists_the_wired_members_of_a_member_session(tmp_path: Path) -> None:
    asyncio.run(_peers(tmp_path))


async def _peers(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "peers")
    try:
        await rpc.result("mob/create", {"definition": {"id": "desk", "profiles": {"editor": TEXT, "fact": TEXT}}})
        for name in ("editor", "fact", "other"):
            await rpc.result("mob/spawn", {"mob_id": "desk", "profile": "fact" if name != "editor" else "editor",
                                           "agent_identity": name})
        await rpc.result("mob/wire", {"mob_id": "desk", "member": "editor", "peer": {"local": "fact"}})
        members = {m["agent_identity"]: m for m in (await rpc.result("mob/members", {"mob_id": "desk"}))["members"]}
        editor = members["editor"]["current_session_id"]
        peers = await rpc.result("comms/peers", {"session_id": editor})
        assert peers == {"session_id": editor, "peers": [{
            "name": "desk/fact/fact", "mob_id": "desk", "agent_identity": "fact", "role": "fact",
            "session_id": members["fact"]["current_session_id"], "reachable": True}]}
        other = members["other"]["current_session_id"]
        assert (await rpc.result("comms/peers", {"session_id": other}))["peers"] == []
        solo = (await rpc.result("session/create", {"prompt": "hi", "model": "gpt-5.5"}))["session_id"]
        assert (await rpc.result("comms/peers", {"session_id": solo}))["peers"] == []
        assert (await _error(rpc, "comms/peers", {"session_id": "nope"}))["code"] == -32001
    finally:
        await rpc.close()


def test_realm_list_and_get_show_the_realms_of_the_state_root(tmp_path: Path) -> None:
    asyncio.run(_realms(tmp_path))


async def _realms(tmp_path: Path) -> None:
    first = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "alpha")
    await first.result("session/create", {"prompt": "hi", "model": "gpt-5.5"})
    assert await first.close() == 0
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--realm", "beta")
    try:
        realms = (await rpc.result("realm/list", {}))["realms"]
        assert [r["realm_id"] for r in realms] == ["alpha", "beta"]
        assert realms[0] == {"realm_id": "alpha", "default_binding": None, "backend_count": 1,
                             "auth_profile_count": 0, "binding_count": 0}
        beta = await rpc.result("realm/get", {"realm_id": "beta"})
        assert beta["current"] is True and beta["session_count"] == 0 and beta["backend"] == "sqlite"
        assert beta["root"] == str(tmp_path / "realms" / "beta")
        alpha = await rpc.result("realm/get", {"realm_id": "alpha"})
        assert alpha["current"] is False and alpha["session_count"] is None  # another server's realm: not opened
        unknown = await _error(rpc, "realm/get", {"realm_id": "gamma"})
        assert unknown["code"] == -32602 and "realm not found: gamma" in unknown["message"]
    finally:
        assert await rpc.close() == 0


def test_declined_methods_answer_a_typed_refusal_and_missing_ones_say_not_yet(tmp_path: Path) -> None:
    asyncio.run(_declined(tmp_path))


async def _declined(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path))
    try:
        for method in ("help/ask", "skills/list", "auth/login/start", "mcp/add", "live/webrtc/answer"):
            error = await _error(rpc, method, {})
            assert error["code"] == -32020, error
            assert error["message"].startswith(f"{method} is not supported by mobkat: ")
            assert error["data"]["kind"] == "unsupported_method"
            assert error["data"]["details"]["method"] == method and error["data"]["details"]["reason"]
        methods = (await rpc.result("initialize", {}))["methods"]
        assert "help/ask" not in methods and "session/fork_at" in methods  # declined methods are not advertised
        later = await _error(rpc, "schedule/list", {})
        assert later["code"] == -32601 and "mobkat does not implement yet" in later["message"]
        unknown = await _error(rpc, "no/such", {})
        assert unknown["code"] == -32601 and unknown["message"] == "method not found: no/such"
    finally:
        assert await rpc.close() == 0


def test_fork_at_refuses_a_source_that_is_running_a_turn(tmp_path: Path) -> None:
    asyncio.run(_fork_busy(tmp_path))


async def _fork_busy(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path))
    try:
        sid = (await rpc.result("session/create", {"prompt": "x", "model": "gpt-5.5",
                                                   "initial_turn": "deferred"}))["session_id"]
        await rpc.send({"jsonrpc": "2.0", "id": 1, "method": "turn/start", "params": {"session_id": sid,
                                                                                        "prompt": SLOW}})
        await _until_delta(rpc)  # the turn is running
        busy = await _error(rpc, "session/fork_at", {"session_id": sid, "message_index": 0,
                                                     "running_behavior": "reject"})
        assert busy["code"] == -32002 and "is running a turn" in busy["message"]
        await rpc.send({"jsonrpc": "2.0", "id": 2, "method": "turn/interrupt", "params": {"session_id": sid}})
        answers = {answer["id"]: answer for answer in [await rpc.recv(), await rpc.recv()]}
        assert answers[1]["error"]["code"] == -32005 and answers[2]["result"]["interrupted"] is True
        assert (await rpc.result("session/fork_at", {"session_id": sid, "message_index": 0}))["message_count"] == 0
    finally:
        assert await rpc.close() == 0
