"""Edges of ``session/stream_*`` and ``config/set|patch`` on the wire (the happy paths run through the SDK)."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from tests.rpc.helpers import RawRpc


def test_stream_and_config_edges(tmp_path: Path) -> None:
    asyncio.run(_edges(tmp_path))


async def _edges(tmp_path: Path) -> None:
    project, home = tmp_path / "project", tmp_path / "home"
    rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path), "--context-root", str(project),
                             "--user-config-root", str(home))
    try:
        created = await rpc.result("session/create", {"prompt": "hi", "model": "gpt-5.5"})
        unknown = await rpc.call("session/stream_close", {"stream_id": "no-such-stream"})
        assert unknown["error"]["code"] == -32602 and unknown["error"]["data"]["kind"] == "stream_not_found"
        extra = await rpc.call("session/stream_open", {"session_id": created["session_id"], "replay": True})
        assert extra["error"]["code"] == -32602 and "replay" in extra["error"]["message"]
        opened = await rpc.result("session/stream_open", {"session_id": created["session_id"]})
        closed = await rpc.result("session/stream_close", {"stream_id": opened["stream_id"]})
        assert closed == {"stream_id": opened["stream_id"], "closed": True, "already_closed": False}
        again = await rpc.result("session/stream_close", {"stream_id": opened["stream_id"]})
        assert again["already_closed"] is True
        ends = [n for n in rpc.notifications if n["method"] == "session/stream_end"]
        assert [n["params"]["outcome"] for n in ends] == ["explicit_close"]

        bare = await rpc.result("config/patch", {"agent": {"model": "gpt-5.5"}, "expected_generation": 0})
        assert bare["generation"] == 1 and bare["written"]["scope"] == "project"
        replaced = await rpc.result("config/set", {"default_model": "gpt-realtime-2"})
        assert replaced["generation"] == 2 and replaced["config"]["default_model"] == "gpt-realtime-2"
        user = await rpc.result("config/patch", {"patch": {"agent": {"model": "gpt-5.5"}}, "scope": "user"})
        assert user["written"] == {"scope": "user", "file": str(home / "config.toml")}
        bad_scope = await rpc.call("config/patch", {"patch": {}, "scope": "realm"})
        assert bad_scope["error"]["code"] == -32602
        assert tomllib.loads((project / ".mobkat" / "config.toml").read_text()) == {"default_model": "gpt-realtime-2"}
        # the project file wins over the user file: the merged default is still the project's
        assert (await rpc.result("config/get", {}))["config"]["default_model"] == "gpt-realtime-2"
    finally:
        await rpc.close()
