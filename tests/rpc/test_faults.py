"""``fault/*`` (``mobkat rpc --fault-injection``): member crashes and simulator socket drops over RPC."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from mobkat.client import MobkatClient
from mobkat.client.errors import MobkatClientError
from tests.rpc.helpers import TcpServer

VOICE = {"model": "gpt-realtime-2", "runtime_mode": "turn_driven", "external_addressable": True,
         "live": {"open_on_spawn": False}}
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "external_addressable": True}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    state = tmp_path_factory.mktemp("faults")
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--fault-injection", "--state-root", str(state)])
    yield tcp
    assert tcp.stop() == 0


async def _committed(events: object, member: str) -> dict[str, object]:
    async for event in events:  # type: ignore[attr-defined]
        kind = event.kind.model_dump(mode="json")
        if kind["type"] == "turn_committed" and kind["member"] == member:
            return kind  # type: ignore[no-any-return]
    raise AssertionError("the event stream ended")


def test_member_crash_restarts_on_the_same_session_with_history_intact(server: TcpServer) -> None:
    async def go() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            mob = await client.create_mob({"id": "crashy", "profiles": {"text": TEXT}})
            events = await mob.events().open()
            await mob.spawn("text", "a")
            member = mob.member("a")
            await member.send("remember the word fig")
            await _committed(events, "a")
            before = await member.history()
            assert await member.crash("drill") == 0
            async for event in events:
                kind = event.kind.model_dump(mode="json")
                if kind["type"] == "member_restarted":
                    assert kind["member"] == "a" and kind["generation"] == 1 and "drill" in kind["error"]
                    break
            # at once, by session id: the server reaches the restarted actor, not the dead one
            assert (await client.start_turn(before.session_id, "right away")).text == "You said: right away"
            started = (await mob.read_events(0))[0].kind.model_dump(mode="json")
            assert started == {"type": "mob_started", "simulator": True}  # the server's simulator stands in
            info = await member.info()
            assert (info.generation, info.current_session_id) == (1, before.session_id)
            await member.send("and now?")
            assert (await _committed(events, "a"))["text"] == "You said: and now?"
            after = await member.history()
            assert [m.model_dump(mode="json").get("content") for m in after.messages[len(before.messages):]
                    if m.role == "user"] == ["right away", "and now?"]
            after = await member.history()
            assert after.messages[:len(before.messages)] == before.messages

    asyncio.run(go())


def test_provider_drop_cuts_live_sockets_and_the_channel_reconnects(server: TcpServer) -> None:
    async def go() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            assert await client.drop_provider_sockets() == 0  # nothing open yet
            mob = await client.create_mob({"id": "droppy", "profiles": {"voice": VOICE}})
            events = await mob.events().open()
            await mob.spawn("voice", "v")
            await mob.member("v").send("hello")
            await _committed(events, "v")
            opened = await mob.member_live_open("v")
            async with client.live_connect(opened) as socket:
                await socket.wait_for("ready")
                assert await client.drop_provider_sockets() == 1
                degraded = await socket.wait_for("status_changed")
                assert degraded.status.status == "degraded"  # type: ignore[union-attr]
                ready = await socket.wait_for("status_changed")
                assert ready.status.status == "ready"  # type: ignore[union-attr]
                await socket.send_text("still there?")
                await socket.wait_for("turn_completed")
            history = await mob.member("v").history()
            assert history.messages[-1].model_dump(mode="json")["blocks"][-1]["data"]["text"] == \
                "You said: still there?"

    asyncio.run(go())


def test_a_crashed_live_member_can_go_live_again_at_once(server: TcpServer) -> None:
    """The crash closes the member's channel and socket; right after ``member_restarted`` the server already
    reaches the restarted actor (it used to answer "session not found" until its event follower caught up)."""
    async def go() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            mob = await client.create_mob({"id": "relive", "profiles": {"voice": VOICE}})
            events = await mob.events().open()
            await mob.spawn("voice", "v")
            await mob.member("v").send("hello")
            await _committed(events, "v")
            for generation in range(3):  # the default restart policy allows 3 within 60 s
                async with client.live_connect(await mob.member_live_open("v")) as socket:
                    await socket.wait_for("ready")
                    assert await mob.member("v").crash() == generation
                    async for event in events:
                        if event.kind.type == "member_restarted":
                            break
                    async for _ in socket:  # the channel died with its actor: the socket ends
                        pass
                    assert socket.close_code == 1000
            async with client.live_connect(await mob.member_live_open("v")) as socket:
                await socket.wait_for("ready")
                await socket.send_text("back?")
                await socket.wait_for("turn_completed")

    asyncio.run(go())


def test_fault_errors_name_the_problem(server: TcpServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    async def go() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            with pytest.raises(MobkatClientError, match="not found"):
                await client.request("fault/member_crash", {"mob_id": "nope", "agent_identity": "a"})
        plain = TcpServer(["--state-root", str(tmp_path_factory.mktemp("plain")), "--fault-injection"])
        try:
            async with await MobkatClient().connect(tcp=plain.address) as client:
                with pytest.raises(MobkatClientError, match="needs the built-in simulator"):
                    await client.drop_provider_sockets()
        finally:
            plain.stop()
        off = TcpServer(["--simulator", "--state-root", str(tmp_path_factory.mktemp("off"))])
        try:
            async with await MobkatClient().connect(tcp=off.address) as client:
                with pytest.raises(MobkatClientError, match="--fault-injection"):
                    await client.drop_provider_sockets()
        finally:
            off.stop()

    asyncio.run(go())
