"""mobkat's own client: session subscriptions (``session/stream_open``), envelopes, and config writes."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from mobkat.client import InvalidParams, MobkatClient
from tests.rpc.helpers import SERVER


def test_subscriptions_envelopes_and_config_writes(tmp_path: Path) -> None:
    asyncio.run(_drive(tmp_path))


async def _drive(tmp_path: Path) -> None:
    user = tmp_path / "user"
    client = MobkatClient(SERVER)
    await client.connect(simulator=True, state_root=tmp_path / "state", realm_id="streams",
                         extra_args=["--user-config-root", str(user)])
    async with client:
        created = await client.create_session("hello", model="gpt-5.5")
        turn_events = await client.session_events(created.session_id).until("run_completed", timeout=5)
        assert [e.type for e in turn_events][:2] == ["run_started", "turn_started"]
        assert turn_events[-1].result == "You said: hello" and turn_events[-1].session_id == created.session_id

        async with await client.subscribe_session_events(created.session_id) as stream:
            await client.start_turn(created.session_id, "remember the codeword fig")
            envelopes = await stream.until("run_completed", timeout=10)
        assert envelopes[-1].payload.result == "Okay, I will remember: fig."
        assert [e.seq for e in envelopes] == list(range(len(turn_events) + 1, len(turn_events) + 1 + len(envelopes)))
        assert {e.source.session_id for e in envelopes} == {created.session_id}

        written = await client.patch_config({"agent": {"model": "gpt-realtime-2"}}, scope="user")
        assert written.generation == 1 and written.written == {"scope": "user", "file": str(user / "config.toml")}
        assert tomllib.loads((user / "config.toml").read_text()) == {"agent": {"model": "gpt-realtime-2"}}
        with pytest.raises(InvalidParams, match="unknown model 'nope-1'"):
            await client.set_config({"agent": {"model": "nope-1"}}, expected_generation=1, scope="user")
        assert (await client.get_config()).generation == 1
