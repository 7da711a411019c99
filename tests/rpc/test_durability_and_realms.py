"""SIGKILL and restart keep every committed turn; realms never see each other's sessions."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from mobkat.client import MobkatClient, SessionArchived, SessionNotFound
from tests.rpc.helpers import SERVER


async def _client(state: Path, realm: str | None, *, live: bool = False) -> MobkatClient:
    return await MobkatClient(SERVER).connect(realm_id=realm, simulator=True, state_root=state, live_ws=live)


def test_sigkill_then_restart_keeps_every_committed_turn(tmp_path: Path) -> None:
    asyncio.run(_sigkill(tmp_path))


async def _sigkill(state: Path) -> None:
    client = await _client(state, "r1", live=True)
    text = await client.create_session("remember the codeword fig", model="gpt-5.5")
    await client.start_turn(text.session_id, "what codeword did I ask you to remember?")
    live = await client.create_session("hello", model="gpt-realtime-2")
    opened = await client.live_open(live.session_id)
    async with client.live_connect(opened) as socket:
        await socket.send_text("remember the codeword amber lantern")
        await socket.wait_for("turn_completed")  # published only once the turn is durable
        before = {sid: await client.read_session_history(sid) for sid in (text.session_id, live.session_id)}
        assert client.process is not None
        os.kill(client.process.pid, signal.SIGKILL)
        assert await asyncio.wait_for(client.process.wait(), 10) == -signal.SIGKILL
    await client.close()

    async with await _client(state, "r1") as restarted:
        assert {s.session_id for s in await restarted.list_sessions()} == set(before)
        for session_id, history in before.items():
            assert await restarted.read_session_history(session_id) == history
        assert [m.role for m in before[live.session_id].messages] == ["user", "block_assistant"] * 2
        later = await restarted.start_turn(text.session_id, "what codeword did I ask you to remember?")
        assert later.text == "You asked me to remember: fig."  # the reloaded session has its history
        info = await restarted.read_session(text.session_id)
        assert info.message_count == 6 and info.is_active


def test_realms_are_isolated(tmp_path: Path) -> None:
    asyncio.run(_realms(tmp_path))


async def _realms(state: Path) -> None:
    first, second = await asyncio.gather(_client(state, "team-a"), _client(state, "team-b"))
    try:
        mine = await first.create_session("hello", model="gpt-5.5")
        assert [s.session_id for s in await first.list_sessions()] == [mine.session_id]
        assert await second.list_sessions() == []
        with pytest.raises(SessionNotFound):
            await second.read_session_history(mine.session_id)
        with pytest.raises(SessionNotFound):
            await second.start_turn(mine.session_id, "let me in")
        config = await second.get_config()
        assert config.realm_id == "team-b" and config.resolved_paths["realm_root"] == str(state / "realms" / "team-b")

        archived = await first.archive_session(mine.session_id)
        assert archived.archived and await first.list_sessions() == []
        assert (await first.read_session_history(mine.session_id)).message_count == 2  # still readable
        listed = await first.list_sessions(include_archived=True)
        assert [s.archived for s in listed] == [True]
        with pytest.raises(SessionArchived, match="archived"):
            await first.start_turn(mine.session_id, "one more")
    finally:
        await asyncio.gather(first.close(), second.close())
