"""``turn/interrupt`` on the real server: the running turn is cancelled, answers -32005 and commits nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from tests.rpc.helpers import RawRpc

SLOW = "please tell me a long story about a lighthouse keeper and the sea"  # ~4 s of paced text at pace 1


async def _until_delta(rpc: RawRpc, timeout: float = 20.0) -> dict[str, Any]:
    """Read until the first ``text_delta`` event (the turn is then running); its params."""
    assert rpc.process.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await rpc.process.stdout.readline())
            assert "id" not in message, message  # no answer may arrive before the turn streams
            rpc.notifications.append(message)
            if message["params"]["event"]["payload"]["type"] == "text_delta":
                return dict(message["params"])


async def _answers(rpc: RawRpc, count: int) -> dict[int, dict[str, Any]]:
    answers = [await rpc.recv() for _ in range(count)]
    return {answer["id"]: answer for answer in answers}


def _cancelled(answer: dict[str, Any], session_id: str) -> None:
    assert "result" not in answer, answer
    assert answer["error"]["code"] == -32005 and answer["error"]["message"] == "request cancelled"
    assert answer["error"]["data"]["kind"] == "request_cancelled"
    assert answer["error"]["data"]["details"] == {"session_id": session_id}


def test_turn_interrupt_cancels_the_running_turn_and_the_session_runs_again(tmp_path: Path) -> None:
    asyncio.run(_interrupt(tmp_path))


async def _interrupt(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path))
    try:
        created = await rpc.result("session/create", {"prompt": "x", "model": "gpt-5.5", "initial_turn": "deferred"})
        session_id = created["session_id"]
        assert await rpc.result("turn/interrupt", {"session_id": session_id}) == {
            "session_id": session_id, "interrupted": False, "result": "staged_noop"}  # never ran a turn

        await rpc.send({"jsonrpc": "2.0", "id": 1, "method": "turn/start",
                        "params": {"session_id": session_id, "prompt": SLOW}})
        assert (await _until_delta(rpc))["session_id"] == session_id
        await rpc.send({"jsonrpc": "2.0", "id": 2, "method": "turn/interrupt", "params": {"session_id": session_id}})
        answers = await _answers(rpc, 2)
        assert answers[2]["result"] == {"session_id": session_id, "interrupted": True, "result": "interrupted"}
        _cancelled(answers[1], session_id)
        events = [n["params"]["event"]["payload"]["type"] for n in rpc.notifications]
        assert "run_completed" not in events and "text_complete" not in events

        history = await rpc.result("session/history", {"session_id": session_id})
        assert history["message_count"] == 0 and history["messages"] == []
        assert (await rpc.result("session/read", {"session_id": session_id}))["turn_count"] == 0

        done = await rpc.result("turn/start", {"session_id": session_id, "prompt": "hi"})  # not busy any more
        assert done["text"] == "You said: hi"
        history = await rpc.result("session/history", {"session_id": session_id})
        assert [m["role"] for m in history["messages"]] == ["user", "block_assistant"]
        assert history["messages"][0]["content"] == "hi"
        assert await rpc.result("turn/interrupt", {"session_id": session_id}) == {
            "session_id": session_id, "interrupted": True, "result": "interrupted"}  # idle: a no-op success

        unknown = str(uuid.uuid4())
        missing = await rpc.call("turn/interrupt", {"session_id": unknown})
        assert missing["error"]["code"] == -32001 and missing["error"]["data"]["kind"] == "session_not_found"
        assert (await rpc.call("turn/interrupt", {}))["error"]["code"] == -32602
        await rpc.result("session/archive", {"session_id": session_id})
        assert (await rpc.call("turn/interrupt", {"session_id": session_id}))["error"]["code"] == -32001
    finally:
        assert await rpc.close() == 0


def test_interrupting_the_first_turn_of_session_create_answers_it_cancelled(tmp_path: Path) -> None:
    asyncio.run(_interrupt_create(tmp_path))


async def _interrupt_create(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--simulator-pace", "1", "--state-root", str(tmp_path))
    try:
        await rpc.send({"jsonrpc": "2.0", "id": 1, "method": "session/create",
                        "params": {"prompt": SLOW, "model": "gpt-5.5"}})
        session_id = (await _until_delta(rpc))["session_id"]
        await rpc.send({"jsonrpc": "2.0", "id": 2, "method": "turn/interrupt", "params": {"session_id": session_id}})
        answers = await _answers(rpc, 2)
        assert answers[2]["result"]["interrupted"] is True
        _cancelled(answers[1], session_id)
        read = await rpc.result("session/read", {"session_id": session_id})
        assert read["message_count"] == 0 and read["idle"] is True
        assert (await rpc.result("turn/start", {"session_id": session_id, "prompt": "again"}))["text"] == (
            "You said: again")
    finally:
        assert await rpc.close() == 0
