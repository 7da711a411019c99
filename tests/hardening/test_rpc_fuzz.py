"""Fuzzing the JSON-RPC entry point: any line gets a well-formed answer and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening.fuzz_settings import FUZZ_EXAMPLES
from tests.rpc.helpers import RawRpc

STANDARD = {-32700, -32600, -32601, -32602, -32603, -32001, -32002, -32003, -32010}
METHODS = st.sampled_from(["initialize", "session/create", "session/read", "session/history", "turn/start",
                           "session/list", "session/archive", "models/catalog", "config/get", "live/open",
                           "nope/never", "", "mob/create"])
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=3), max_leaves=8)
PARAMS = st.one_of(VALUES, st.fixed_dictionaries({}, optional={
    "session_id": st.text(max_size=40) | st.uuids().map(str), "prompt": VALUES, "offset": VALUES,
    "limit": VALUES, "model": st.sampled_from(["gpt-5.5", "gpt-realtime-2", "no-such-model"]) | VALUES,
    "initial_turn": st.sampled_from(["deferred", "now"]) | VALUES,
}))
LINES = st.one_of(
    st.builds(lambda m, p, i: {"jsonrpc": "2.0", "id": i, "method": m, "params": p}, METHODS, PARAMS,
              st.integers(1, 10**6)),
    st.builds(lambda m, i: {"jsonrpc": "1.0", "id": i, "method": m}, METHODS, st.integers(1, 10**6)),
    VALUES.map(lambda v: {"id": 7, "junk": v}),
    st.text(max_size=60).filter(lambda t: "\n" not in t and "\r" not in t),
)


def _encode(line: Any) -> bytes:
    return (line if isinstance(line, str) else json.dumps(line)).encode() + b"\n"


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for every example, so that they can share one server's pipes."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def rpc(loop: asyncio.AbstractEventLoop) -> Iterator[RawRpc]:
    """One server on stdio for the whole test: every example's lines go to it, one after another."""
    server = loop.run_until_complete(RawRpc.start("--simulator"))
    yield server
    assert loop.run_until_complete(server.close()) == 0  # and it still exits cleanly


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, min_size=40, max_size=60))
def test_random_lines_get_answers_and_the_server_keeps_serving(loop: asyncio.AbstractEventLoop, rpc: RawRpc,
                                                               lines: list[Any]) -> None:
    loop.run_until_complete(_drive(rpc, lines))


async def _drive(rpc: RawRpc, lines: list[Any]) -> None:
    try:
        await _exchange(rpc, lines)
    except BaseException:
        await _resync(rpc)  # the next example (hypothesis shrinks by replaying) starts on a clean line
        raise


async def _resync(rpc: RawRpc) -> None:
    """Read past whatever the failed example left unread, up to the answer of a fresh request."""
    rpc._next_id += 1
    marker = rpc._next_id
    await rpc.send({"jsonrpc": "2.0", "id": marker, "method": "initialize"})
    while (await rpc.recv(timeout=30)).get("id") != marker:
        pass


async def _exchange(rpc: RawRpc, lines: list[Any]) -> None:
    for line in lines:
        await rpc.send(_encode(line))
        if isinstance(line, str) and not line.encode().strip():
            continue  # a blank line (ASCII whitespace, as the server reads bytes) is skipped, as JSONL allows
        if isinstance(line, dict) and "method" in line and line.get("jsonrpc") == "2.0" and "id" not in line:
            continue
        response = await rpc.recv(timeout=30)
        assert response.get("jsonrpc") == "2.0"
        assert ("result" in response) != ("error" in response), response
        if "error" in response:
            error = response["error"]
            assert error["code"] in STANDARD and isinstance(error["message"], str) and error["message"]
    info = await rpc.result("initialize", {})
    assert info["contract_version"].startswith("0.8")
    created = await rpc.result("session/create", {"prompt": "still here?", "model": "gpt-5.5"})
    assert created["text"] == "You said: still here?"
