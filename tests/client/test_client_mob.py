"""End to end: the SDK's ``MobHandle`` drives mobs on the real server (simulator, live WebSocket)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from mobkat.client import (
    ChannelAlreadyBound,
    MemberExists,
    MemberNotFound,
    MobEventStream,
    MobHandle,
    MobkatClient,
    MobNotFound,
    MobNotRunning,
    NotExternallyAddressable,
    StaleCursor,
)
from mobkat.mob.events import MobEvent
from mobkat.rpc.mob_params import SpawnSpec
from tests.rpc.helpers import SERVER

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
TEAM = {"id": "desk", "profiles": {"editor": {**TEXT, "external_addressable": True}, "fact": TEXT},
        "orchestrator": {"profile": "editor"}, "wiring": {"auto_wire_orchestrator": True}}


async def _connect(tmp_path: Path, *, live_ws: bool = False) -> MobkatClient:
    return await MobkatClient(SERVER).connect(live_ws=live_ws, simulator=True, state_root=tmp_path / "state",
                                              realm_id="mobs", definitions_root=ROOT / "mobs")


async def _until(events: MobEventStream, match: Callable[[MobEvent], bool], timeout: float = 15.0) -> MobEvent:
    async with asyncio.timeout(timeout):
        async for event in events:
            if match(event):
                return event
    raise AssertionError("the stream ended first")


def test_mob_handle_spawns_relays_streams_and_stops(tmp_path: Path) -> None:
    asyncio.run(_whole_mob(tmp_path))


async def _whole_mob(tmp_path: Path) -> None:
    async with await _connect(tmp_path) as client:
        mob = await client.create_mob(TEAM)
        assert isinstance(mob, MobHandle) and mob.id == "desk"
        assert [(m.mob_id, m.status) for m in await client.list_mobs()] == [("desk", "Running")]
        async with mob.events() as events:
            spawned = await mob.spawn("editor", "editor", labels={"desk": "news"})
            assert spawned.agent_identity == "editor" and spawned.member_ref
            rows = await mob.spawn_many([SpawnSpec(profile="fact", agent_identity="fact"),
                                         {"profile": "fact", "agent_identity": "fact"}])
            assert [r.status for r in rows] == ["spawned", "failed"]
            assert getattr(rows[1].result, "cause", None) == "member_already_exists"
            wired = await _until(events, lambda e: e.type == "members_wired")
            assert (wired.get("a"), wired.get("b")) == ("fact", "editor")  # auto-wired to the orchestrator

            members = {m.agent_identity: m for m in await mob.members()}
            assert members["editor"].labels == {"desk": "news"} and members["fact"].wired_to == ["editor"]
            receipt = await mob.member("editor").send("ask the fact: is the moon made of cheese?")
            assert receipt.handling_mode == "queue" and receipt.member_ref == spawned.member_ref
            answered = await _until(events, lambda e: e.type == "turn_committed" and e.get("member") == "editor"
                                    and "fact says" in (e.get("text") or ""))
            assert "is the moon made of cheese?" in answered.get("text")
        assert events.stream_id is not None

        history = await mob.member("editor").history()
        assert history.messages[-1].role == "block_assistant"
        cursor = answered.cursor
        assert [e.cursor for e in await mob.read_events(after_cursor=cursor - 2, limit=2)] == [cursor - 1, cursor]
        with pytest.raises(StaleCursor) as stale:
            await mob.read_events(after_cursor=cursor + 1000, strict=True)
        assert stale.value.details["watermark"] >= cursor

        with pytest.raises(NotExternallyAddressable):
            await mob.member("fact").send("hi")
        with pytest.raises(MemberNotFound):
            await mob.member("ghost").history()
        with pytest.raises(MemberExists):
            await mob.spawn("fact", "fact")
        respawned = await mob.respawn("fact")
        assert respawned.status == "completed" and respawned.receipt.identity == "fact"
        assert {m.agent_identity: m.generation for m in await mob.members()}["fact"] == 1
        await mob.unwire("fact", "editor")
        await mob.wire("fact", "editor")
        assert await mob.retire("fact") and await mob.retire("fact")

        async with mob.member("editor").events() as mine:
            await mob.member("editor").send("hello editor")
            committed = await _until(mine, lambda e: e.type == "turn_committed")
            assert committed.get("text") == "You said: hello editor"
        stopped = await mob.lifecycle("stop")
        assert stopped.ok and (await mob.status()).status == "Stopped"
        with pytest.raises(MobNotRunning) as refused:
            await mob.spawn("fact", "fact2")
        assert refused.value.code == "invalid_transition"
        await mob.lifecycle("destroy")
        with pytest.raises(MobNotFound):
            await client.mob("desk").status()


def test_member_live_channel_through_the_mob_handle(tmp_path: Path) -> None:
    asyncio.run(_member_live(tmp_path))


async def _member_live(tmp_path: Path) -> None:
    async with await _connect(tmp_path, live_ws=True) as client:
        mob = await client.create_mob(path=str(ROOT / "mobs" / "live-demo.toml"))
        async with mob.events() as events:
            await mob.spawn("host", "host")
            auto = await _until(events, lambda e: e.type == "live_opened")
        opened = await mob.member_live_open("host")
        assert opened.channel_id == auto.get("channel_id") and opened.transport.url
        with pytest.raises(ChannelAlreadyBound):
            await mob.member_live_open("host")
        async with client.live_connect(opened) as socket:
            await socket.wait_for("ready")
            await socket.send_text("hello host")
            assert (await socket.wait_for("turn_completed")).observation == "turn_completed"
            status = await mob.member_live_status("host")
            assert status.channel_id == opened.channel_id and status.status.status == "ready"
            control = await mob.member_live_control("host", opened.channel_id, "refresh")
            assert (control.verb, control.status) == ("refresh", "queued")
            assert (await mob.member_live_close("host", opened.channel_id)).status == "closed"
        history = await mob.member("host").history()
        assert any(m.role == "user" and "hello host" in str(m.model_dump()) for m in history.messages)
        await mob.lifecycle("destroy")
