"""The upstream Meerkat SDK's mob API (meerkat-sdk 0.8.26, unmodified) drives ``mobkat-rpc`` mobs.

The SDK parses mob results strictly (members, spawn receipts, spawn_many rows, respawn receipts,
member live results); every call below would raise ``INVALID_RESPONSE`` on a wrong shape.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from meerkat import MeerkatClient, MeerkatError
from meerkat.mob import Mob

from mobkat.mob.definition import MobDefinition
from tests.rpc.helpers import poll_mob_events

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
DESK = {"id": "desk", "profiles": {"editor": {**TEXT, "external_addressable": True}, "fact": TEXT}}


async def _event(mob: Mob, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
    """Poll ``mob/events`` (through the SDK) until an event's kind matches."""
    async def read(cursor: int) -> list[dict[str, Any]]:
        return list((await mob.read_events(after_cursor=cursor))["events"])

    return await poll_mob_events(read, match, timeout)


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_creates_spawns_wires_and_messages_a_mob(tmp_path: Path) -> None:
    asyncio.run(_desk(tmp_path))


async def _desk(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk-mob", state_root=str(tmp_path / "state"))
    try:
        assert client.has_capability("mob")
        mob = await client.create_mob(definition=DESK)
        assert mob.id == "desk"
        assert await mob.status() == {"mob_id": "desk", "status": "Running"}
        assert await client.list_mobs() == [{"mob_id": "desk", "status": "Running"}]

        spawned = await mob.spawn(profile="editor", agent_identity="editor", labels={"desk": "news"})
        assert spawned["mob_id"] == "desk" and spawned["agent_identity"] == "editor" and spawned["member_ref"]
        many = await mob.spawn_many([{"profile": "fact", "agent_identity": "fact"},
                                     {"profile": "fact", "agent_identity": "fact"}])
        assert [entry.status for entry in many.results] == ["spawned", "failed"]
        assert many.results[1].result.cause == "member_already_exists"

        await mob.wire("editor", "fact")  # the SDK sends {"local": "fact"}
        members = {m["agent_identity"]: m for m in await mob.members()}
        assert members["editor"]["profile"] == "editor" and members["editor"]["wired_to"] == ["fact"]
        assert members["editor"]["labels"] == {"desk": "news"} and members["fact"]["status"] == "active"
        assert members["editor"]["member_ref"] == spawned["member_ref"]

        receipt = await mob.member("editor").send("ask the fact: is the moon made of cheese?")
        assert receipt == {"mob_id": "desk", "agent_identity": "editor", "member_ref": spawned["member_ref"],
                           "handling_mode": "queue"}
        await _event(mob, lambda k: k["type"] == "peer_message_routed" and k["sender"] == "fact")
        answered = await _event(mob, lambda k: k["type"] == "turn_committed" and k["member"] == "editor"
                                and "fact says" in (k.get("text") or ""))
        assert answered["mob_id"] == "desk" and answered["cursor"] > 1

        with pytest.raises(MeerkatError) as not_addressable:
            await mob.member("fact").send("hi")
        assert not_addressable.value.code == "-32602"  # upstream: mob errors are -32602, no data.code
        assert "not externally addressable" in not_addressable.value.message
        with pytest.raises(MeerkatError) as missing:
            await mob.member("ghost").send("hi")
        assert missing.value.code == "-32602" and "ghost" in missing.value.message

        respawned = await mob.respawn("fact")
        assert respawned["status"] == "completed" and respawned["receipt"]["agent_identity"] == "fact"
        await mob.unwire("editor", "fact")
        await mob.retire("fact")
        assert [m["agent_identity"] for m in await mob.members()] == ["editor"]
        await mob.lifecycle("stop")
        assert (await mob.status())["status"] == "Stopped"
        with pytest.raises(MeerkatError) as stopped:
            await mob.spawn(profile="fact", agent_identity="fact")
        assert stopped.value.code == "-32602" and "invalid state transition" in stopped.value.message
        await mob.lifecycle("destroy")
    finally:
        await client.close()


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_member_live_channel(tmp_path: Path) -> None:
    asyncio.run(_member_live(tmp_path))


async def _member_live(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(live_ws=True, realm_id="sdk-live", state_root=str(tmp_path / "state"))
    try:
        definition = MobDefinition.from_toml(ROOT / "mobs" / "live-demo.toml").to_json()
        mob = await client.create_mob(definition=definition)
        await mob.spawn(profile="host", agent_identity="host")
        await _event(mob, lambda k: k["type"] == "live_opened")
        opened = await mob.member_live_open("host")
        channel = opened.channel_id
        assert opened.transport["transport"] == "websocket" and opened.capabilities.audio_in
        async with websockets.connect(opened.transport["url"]) as ws:
            assert json.loads(await ws.recv())["observation"] == "ready"
            status = await mob.member_live_status("host")
            assert status.channel_id == channel and status.status == {"status": "ready"}
            outcome = await mob.member_live_control("host", channel, {"verb": "interrupt"})
            assert outcome == {"verb": "interrupt", "status": "interrupted"}
            assert (await mob.member_live_close("host", channel)).status == "closed"
        await mob.lifecycle("destroy")
    finally:
        await client.close()


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_lifecycle_and_a_restored_mob(tmp_path: Path) -> None:
    asyncio.run(_lifecycle(tmp_path))


async def _lifecycle(tmp_path: Path) -> None:
    """Every ``Mob.lifecycle`` action of the SDK; then a new server on the same realm has the mob back."""
    state = str(tmp_path / "state")
    client = MeerkatClient()
    await client.connect(realm_id="sdk-cycle", state_root=state)
    try:
        mob = await client.create_mob(definition=DESK)
        await mob.spawn(profile="editor", agent_identity="editor")
        await mob.lifecycle("stop")
        assert (await mob.status())["status"] == "Stopped"
        with pytest.raises(MeerkatError) as twice:
            await mob.lifecycle("stop")
        assert twice.value.code == "-32602" and twice.value.message.startswith(
            "invalid state transition: Stopped -> Stopped (mob desk is Stopped")
        await mob.lifecycle("resume")
        [editor] = await mob.members()
        assert (await mob.status())["status"] == "Running" and editor["status"] == "active"
        await mob.lifecycle("complete")
        assert (await mob.status())["status"] == "Completed" and await mob.members() == []
        with pytest.raises(MeerkatError) as resume:
            await mob.lifecycle("resume")
        assert "Completed -> Running" in resume.value.message
        await mob.lifecycle("reset")
        await mob.spawn(profile="fact", agent_identity="fact")
        assert (await mob.status())["status"] == "Running"
    finally:
        await client.close()

    client = MeerkatClient()  # a new server process on the same state root and realm
    await client.connect(realm_id="sdk-cycle", state_root=state)
    try:
        assert await client.list_mobs() == [{"mob_id": "desk", "status": "Running"}]
        mob = client.mob("desk")
        assert [m["agent_identity"] for m in await mob.members()] == ["fact"]
        kinds = [e["kind"]["type"] for e in (await mob.read_events(after_cursor=0))["events"]]
        assert kinds[-2:] == ["mob_restored", "member_restored"]
        await mob.lifecycle("destroy")
        assert await client.list_mobs() == []
    finally:
        await client.close()
