"""Wire shapes as upstream Meerkat sends them: error data, contract_version, initial_turn, --live-ws without a key."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.rpc.helpers import RawRpc, server_env

CONTRACT = {"major": 0, "minor": 8, "patch": 26}


def test_contract_version_initial_turn_and_error_data_as_upstream(tmp_path: Path) -> None:
    asyncio.run(_shapes(tmp_path))


async def _shapes(tmp_path: Path) -> None:
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), env=server_env())
    try:
        assert (await rpc.result("initialize", {}))["contract_version"] == "0.8.26"  # a string here only
        assert (await rpc.result("capabilities/get", {}))["contract_version"] == CONTRACT
        assert (await rpc.result("models/catalog", {}))["contract_version"] == CONTRACT

        ran = await rpc.result("session/create", {"prompt": "hello", "model": "gpt-5.5",
                                                  "initial_turn": "run_immediately"})
        assert ran["turns"] >= 1 and ran["text"]
        idle = await rpc.result("session/create", {"prompt": "unused", "initial_turn": "deferred"})
        assert set(idle) == {"session_id"}
        bad = (await rpc.call("session/create", {"prompt": "x", "initial_turn": "later"}))["error"]
        assert bad["code"] == -32602 and "initial_turn" in bad["message"]

        missing = (await rpc.call("session/read", {"session_id": "6f1c3c9e-1f7a-4b55-9d1e-0a4f1d7a2b11"}))["error"]
        assert missing["code"] == -32001 and "code" not in missing["data"]  # the upstream SDK reads data.code
        assert missing["data"]["kind"] == "session_not_found"
        assert missing["data"]["details"]["session_id"] == "6f1c3c9e-1f7a-4b55-9d1e-0a4f1d7a2b11"
    finally:
        assert await rpc.close() == 0


def test_live_ws_without_a_key_starts_and_live_open_names_the_missing_key(tmp_path: Path) -> None:
    asyncio.run(_no_key(tmp_path))


async def _no_key(tmp_path: Path) -> None:
    flags = ("--realm", "parity", "--state-root", str(tmp_path))
    seeded = await RawRpc.start("--simulator", *flags, env=server_env())
    try:  # a session with a committed turn, so that live/open gets as far as the provider
        session_id = (await seeded.result("session/create", {"prompt": "hi", "model": "gpt-realtime-2"}))["session_id"]
    finally:
        assert await seeded.close() == 0

    rpc = await RawRpc.start("--live-ws", "127.0.0.1:0", *flags, env=server_env())  # no key, no simulator
    try:
        assert "live/open" in (await rpc.result("initialize", {}))["methods"]
        error = (await rpc.call("live/open", {"session_id": session_id}))["error"]
        assert error["code"] == -32603 and "OPENAI_API_KEY" in error["message"]
        assert error["data"]["kind"] == "missing_api_key"
        assert error["data"]["details"] == {"provider": "openai", "env": "OPENAI_API_KEY"}
    finally:
        assert await rpc.close() == 0
