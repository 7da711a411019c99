"""Callback tools on the wire: ``tools/register``, the server's ``tool/execute`` requests, timeouts, disconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mobkat.rpc.callback_tools import MAX_CALLBACK_TOOLS
from tests.rpc.helpers import RawRpc, TcpServer

SLOW = {"name": "slow_lookup", "description": "never answers in time", "timeout_ms": 300,
        "input_schema": {"type": "object"}}


class Peer:
    """One TCP connection read line by line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.ids = 0

    @classmethod
    async def connect(cls, address: str) -> Peer:
        host, port = address.rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port), limit=1 << 24))

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(json.dumps(message).encode() + b"\n")
        await self.writer.drain()

    async def request(self, method: str, params: dict[str, Any]) -> int:
        self.ids += 1
        await self.send({"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params})
        return self.ids

    async def until(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                line = await self.reader.readline()
                assert line, "the server closed the connection"
                message: dict[str, Any] = json.loads(line)
                if match(message):
                    return message

    async def result(self, method: str, params: dict[str, Any]) -> Any:
        request_id = await self.request(method, params)
        answer = await self.until(lambda m: m.get("id") == request_id and "method" not in m)
        assert "error" not in answer, answer
        return answer["result"]

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def test_register_execute_and_a_disconnect_mid_call(tmp_path: Path) -> None:
    server = TcpServer(["--simulator", "--state-root", str(tmp_path), "--realm", "tools"])
    try:
        asyncio.run(_two_clients(server.address))
    finally:
        assert server.stop() == 0


async def _two_clients(address: str) -> None:
    owner, user = await Peer.connect(address), await Peer.connect(address)
    try:
        tools = [{"name": "lookup_order", "description": "Order status", "input_schema": {"type": "object"}}]
        assert await owner.result("tools/register", {"tools": tools}) == {"registered": 1}
        created = await user.result("session/create", {"prompt": "hi", "model": "gpt-5.5"})
        session_id = created["session_id"]

        turn = await user.request("turn/start", {"session_id": session_id,
                                                 "prompt": "use the lookup_order tool with order_id=42"})
        execute = await owner.until(lambda m: m.get("method") == "tool/execute")
        assert execute["id"] == "srv-0" and execute["params"]["name"] == "lookup_order"
        assert execute["params"]["arguments"] == {"order_id": "42"} and execute["params"]["tool_use_id"]
        await owner.send({"jsonrpc": "2.0", "id": execute["id"], "result": {"content": "shipped", "is_error": False}})
        done = await user.until(lambda m: m.get("id") == turn)
        assert done["result"]["text"] == "Tool lookup_order returned: shipped" and done["result"]["tool_calls"] == 1

        again = await user.request("turn/start", {"session_id": session_id, "prompt": "call lookup_order"})
        await owner.until(lambda m: m.get("method") == "tool/execute")
        await owner.close()  # mid-call: the turn gets an error result and still ends
        gone = await user.until(lambda m: m.get("id") == again)
        text = gone["result"]["text"]
        assert text.startswith("Tool lookup_order returned: tool 'lookup_order' failed: ClientGoneError:"), text
        assert "disconnected" in text
        history = await user.result("session/history", {"session_id": session_id})
        results = [r for row in history["messages"] if row["role"] == "tool_results" for r in row["results"]]
        assert [r["is_error"] for r in results] == [False, True]

        # the owner's tools left with it: the model is no longer offered them
        after = await user.result("turn/start", {"session_id": session_id, "prompt": "use the lookup_order tool"})
        assert after["text"] == "You said: use the lookup_order tool" and after["tool_calls"] == 0
    finally:
        await user.close()


def test_a_callback_that_never_answers_times_out() -> None:
    asyncio.run(_timeout())


async def _timeout() -> None:
    rpc = await RawRpc.start("--simulator")
    try:
        assert await rpc.result("tools/register", {"tools": [SLOW]}) == {"registered": 1}
        bad = await rpc.call("tools/register", {"tools": [{"name": "no spaces allowed"}]})
        assert bad["error"]["code"] == -32602
        await rpc.send({"jsonrpc": "2.0", "id": 1, "method": "session/create",
                        "params": {"prompt": "please call slow_lookup", "model": "gpt-5.5"}})
        asked = await rpc.recv()  # the server's request comes first; it is never answered
        assert asked["id"] == "srv-0" and asked["method"] == "tool/execute"
        result = (await rpc.recv())["result"]
        assert result["text"] == "Tool slow_lookup returned: tool 'slow_lookup' timed out after 0.3 s"
        payloads = [n["params"]["event"]["payload"] for n in rpc.notifications if n["method"] == "session/event"]
        timed_out = next(p for p in payloads if p["type"] == "tool_execution_timed_out")
        assert timed_out == {"type": "tool_execution_timed_out", "id": asked["params"]["tool_use_id"],
                             "name": "slow_lookup", "timeout_ms": 300}
        assert not any(p["type"] == "tool_execution_completed" for p in payloads)
    finally:
        await rpc.close()


def test_registered_callback_tools_are_bounded() -> None:
    """A client cannot grow the server's tool list (offered to every session's model) without bound."""
    asyncio.run(_bounded())


async def _bounded() -> None:
    rpc = await RawRpc.start("--simulator")
    try:
        batch = [{"name": f"tool_{i}"} for i in range(MAX_CALLBACK_TOOLS)]
        assert await rpc.result("tools/register", {"tools": batch}) == {"registered": MAX_CALLBACK_TOOLS}
        assert await rpc.result("tools/register", {"tools": batch[:3]}) == {"registered": 3}  # replacing is fine
        more = await rpc.call("tools/register", {"tools": [{"name": "one_too_many"}]})
        assert more["error"]["code"] == -32602 and f"limit of {MAX_CALLBACK_TOOLS}" in more["error"]["message"]
        too_many = await rpc.call("tools/register", {"tools": [{"name": f"t{i}"} for i in range(129)]})
        assert too_many["error"]["code"] == -32602
        wordy = await rpc.call("tools/register", {"tools": [{"name": "tool_0", "description": "x" * 5000}]})
        assert wordy["error"]["code"] == -32602
        assert await rpc.result("tools/register", {"tools": batch[:1]}) == {"registered": 1}  # still serving
    finally:
        await rpc.close()
