"""Every bad input gets the right JSON-RPC error, and the real server keeps serving afterwards."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import Any

from mobkat.rpc.protocol import MAX_LINE_BYTES
from tests.rpc.helpers import RawRpc, run_cli


def _error(response: dict[str, Any], code: int) -> dict[str, Any]:
    assert "result" not in response, response
    error: dict[str, Any] = response["error"]
    assert error["code"] == code, error
    assert isinstance(error["data"]["kind"], str) and isinstance(error["data"]["details"], dict)
    return error


def test_bad_requests_are_answered_and_the_server_keeps_serving(tmp_path: Path) -> None:
    asyncio.run(_bad_requests(tmp_path))


async def _bad_requests(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(tmp_path))
    try:
        await rpc.send(b"{this is not json\n")
        error = _error(await rpc.recv(), -32700)
        assert "parse error" in error["message"]
        await rpc.send(b"[1, 2, 3]\n")
        assert (await rpc.recv())["id"] is None
        await rpc.send({"jsonrpc": "1.0", "id": 7, "method": "initialize"})
        assert _error(await rpc.recv(), -32600)["data"]["kind"] == "invalid_request"
        _error(await rpc.call("session/teleport", {}), -32601)
        missing = _error(await rpc.call("session/create", {"model": "gpt-5.5"}), -32602)
        assert "prompt" in missing["message"] and missing["data"]["details"]["errors"][0]["field"] == "prompt"
        _error(await rpc.call("session/history", {"session_id": 5}), -32602)
        _error(await rpc.call("session/history", {"session_id": "x", "limit": 5000}), -32602)
        _error(await rpc.call("session/read", ["positional"]), -32602)
        unsupported = _error(await rpc.call("session/create", {"prompt": "hi", "output_schema": {"type": "object"}}),
                             -32602)
        assert "output_schema is not supported" in unsupported["message"]

        unknown = str(uuid.uuid4())
        for method, params in (("session/read", {"session_id": unknown}),
                               ("session/history", {"session_id": unknown}),
                               ("turn/start", {"session_id": unknown, "prompt": "hi"})):
            assert _error(await rpc.call(method, params), -32001)["data"]["kind"] == "session_not_found"
        live_unknown = _error(await rpc.call("live/open", {"session_id": unknown}), -32602)
        assert live_unknown["message"] == f"session {unknown} not found"
        assert _error(await rpc.call("live/open", {"session_id": "not-a-uuid"}), -32602)["message"].startswith(
            "invalid session_id")
        zero = _error(await rpc.call("live/open", {"session_id": unknown, "seed_max_chars": 0}), -32602)
        assert zero["message"] == "live seed window must be greater than zero"
        no_channel = _error(await rpc.call("live/status", {"channel_id": unknown}), -32602)
        assert no_channel["message"] == f"channel {unknown} not found"
        for method in ("live/interrupt", "live/refresh", "live/close"):
            _error(await rpc.call(method, {"channel_id": unknown}), -32602)
        bad_b64 = _error(await rpc.call("live/send_input", {"channel_id": unknown, "chunk": {
            "kind": "audio", "data": "%%%", "sample_rate_hz": 24000, "channels": 1}}), -32602)
        assert "base64" in bad_b64["message"]
        assert bad_b64["data"]["error_code"] == {"code": "config_rejected",
                                                 "reason": {"kind": "audio_input_invalid_base64"}}
        long_id = _error(await rpc.call("live/send_input", {"channel_id": "c" * 200, "chunk": {
            "kind": "text", "text": "hi"}}), -32602)
        assert long_id["data"]["error_code"]["reason"] == {"kind": "input_too_large", "max_bytes": 128,
                                                           "actual_bytes": 200}

        await rpc.send(b"x" * (MAX_LINE_BYTES + 1) + b"\n")  # one byte over the line limit
        oversized = _error(await rpc.recv(timeout=60), -32600)
        assert "exceeds" in oversized["message"] and oversized["data"]["details"]["limit"] == MAX_LINE_BYTES

        hello = await rpc.result("initialize", {})
        assert hello["contract_version"].startswith("0.8.") and "live/open" in hello["methods"]
    finally:
        assert await rpc.close() == 0


def test_turns_run_concurrently_with_other_requests_and_refuse_a_second_turn(tmp_path: Path) -> None:
    asyncio.run(_concurrency(tmp_path))


async def _concurrency(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path))
    try:
        created = await rpc.result("session/create", {"prompt": "hi", "model": "gpt-5.5", "initial_turn": "deferred"})
        session_id = created["session_id"]
        slow = "please tell me a long story about a lighthouse keeper and the sea"
        await rpc.send({"jsonrpc": "2.0", "id": 1, "method": "turn/start", "params": {"session_id": session_id,
                                                                                       "prompt": slow}})
        await rpc.send({"jsonrpc": "2.0", "id": 2, "method": "turn/start", "params": {"session_id": session_id,
                                                                                       "prompt": "and another"}})
        await rpc.send({"jsonrpc": "2.0", "id": 3, "method": "session/read", "params": {"session_id": session_id}})
        answers = [await rpc.recv() for _ in range(3)]
        assert [a["id"] for a in answers] == [2, 3, 1]  # the slow turn does not hold anything up
        assert _error(answers[0], -32002)["data"]["kind"] == "session_busy"
        assert answers[2]["result"]["text"] == f"You said: {slow}"
        events = [n["params"]["event"]["payload"]["type"] for n in rpc.notifications if n["method"] == "session/event"]
        assert events[0] == "run_started" and events[-1] == "run_completed" and "text_delta" in events
    finally:
        await rpc.close()


def test_without_live_ws_the_live_methods_do_not_exist_and_the_realm_is_new(tmp_path: Path) -> None:
    asyncio.run(_no_live(tmp_path))


async def _no_live(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path))  # no --realm: a new isolated realm
    try:
        hello = await rpc.result("initialize", {})
        assert not [m for m in hello["methods"] if m.startswith("live/")]
        assert hello["realm_id"].startswith("isolated-")
        assert (await rpc.result("session/list")) == {"sessions": []}
        assert _error(await rpc.call("live/open", {"session_id": str(uuid.uuid4())}), -32601)
        caps = {c["id"]: c["status"] for c in (await rpc.result("capabilities/get"))["capabilities"]}
        assert caps["sessions"] == "Available" and "DisabledByPolicy" in caps["live"]
        audio = base64.b64encode(b"\x00\x00").decode()
        assert _error(await rpc.call("live/send_input", {"channel_id": "c", "chunk": {"kind": "audio",
                                                                                     "data": audio}}), -32601)
    finally:
        await rpc.close()


def test_start_up_refusals_name_the_problem_and_stdin_may_be_a_file(tmp_path: Path) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text('{"jsonrpc":"2.0","id":1,"method":"initialize"}\n{"jsonrpc":"2.0","id":2,"method":"nope"}\n')
    runs = {
        "tcp": run_cli("--tcp", "0.0.0.0:0", "--simulator"),
        "live": run_cli("--live-ws", "0.0.0.0:0", "--simulator"),
        "flag": run_cli("--no-such-flag"),
        "file": run_cli("--simulator", "--state-root", str(tmp_path), stdin=requests),
    }
    out = {}
    for name, process in runs.items():
        stdout, stderr = process.communicate(timeout=60)
        out[name] = (process.returncode, stderr.decode())
        if name == "file":
            answers = sorted((json.loads(line) for line in stdout.splitlines()), key=lambda a: a["id"])
            assert [a["id"] for a in answers] == [1, 2] and answers[1]["error"]["code"] == -32601
            assert process.returncode == 0  # end of the file = end of input
        else:
            assert stdout == b"", name  # stdout only ever carries JSON-RPC
    assert out["tcp"][0] == 1 and "--allow-remote" in out["tcp"][1] and "--tcp 0.0.0.0:0" in out["tcp"][1]
    assert out["live"][0] == 1 and "--allow-remote" in out["live"][1] and "live-ws" in out["live"][1]
    assert out["flag"][0] == 2 and "unrecognized arguments: --no-such-flag" in out["flag"][1]
