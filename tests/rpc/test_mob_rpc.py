"""``mob/*`` over a real server process (raw JSON lines over TCP), against the built-in simulator."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from mobkat.audio import encode_speech, silence
from tests.rpc.helpers import LINE_LIMIT, RawRpc, TcpServer, poll_mob_events

ROOT = Path(__file__).resolve().parents[2]
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


def pair(mob_id: str) -> dict[str, Any]:
    """``a`` (hosts may message it) and ``b`` (they may not); nothing wires them automatically."""
    return {"id": mob_id, "profiles": {"a": {**TEXT, "external_addressable": True}, "b": TEXT,
                                       "solo": {**TEXT, "tools": {"comms": False}}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    state = tmp_path_factory.mktemp("mob-rpc")
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(state), "--realm", "mobs",
                     "--definitions-root", str(ROOT / "mobs")])
    yield tcp
    assert tcp.stop() == 0  # SIGTERM with running mobs is still a clean stop


class Wire:
    """One TCP connection: requests matched by id, notifications kept in order."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.notifications: list[dict[str, Any]] = []
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._arrived = asyncio.Event()
        self._next = 0
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self.reader.readline():
            message = json.loads(line)
            if "id" in message:
                self._pending.pop(message["id"]).set_result(message)
            else:
                self.notifications.append(message)
                self._arrived.set()

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   timeout: float = 30.0) -> dict[str, Any]:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next] = future
        request = {"jsonrpc": "2.0", "id": self._next, "method": method, "params": params or {}}
        self.writer.write(json.dumps(request).encode() + b"\n")
        await self.writer.drain()
        return await asyncio.wait_for(future, timeout)

    async def result(self, method: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0) -> Any:
        response = await self.call(method, params, timeout=timeout)
        assert "error" not in response, response
        return response["result"]

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.call(method, params)
        assert "error" in response, response
        error: dict[str, Any] = response["error"]
        return error

    async def notification(self, match: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        """The first notification (so far or to come) that matches."""
        seen = 0
        async with asyncio.timeout(timeout):
            while True:
                for message in self.notifications[seen:]:
                    if match(message):
                        return message
                seen = len(self.notifications)
                self._arrived.clear()
                await self._arrived.wait()

    async def until_event(self, mob_id: str, match: Callable[[dict[str, Any]], bool],
                          timeout: float = 15.0) -> dict[str, Any]:
        """The first mob event (read with mob/events) that matches."""
        async def read(cursor: int) -> list[dict[str, Any]]:
            page = await self.result("mob/events", {"mob_id": mob_id, "after_cursor": cursor})
            return list(page["events"])

        return await poll_mob_events(read, match, timeout)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await self._task


def drive(server: TcpServer, body: Callable[[Wire], Awaitable[None]]) -> None:
    async def main() -> None:
        host, _, port = server.address.rpartition(":")
        wire = Wire(*await asyncio.open_connection(host, int(port), limit=LINE_LIMIT))
        try:
            await body(wire)
        finally:
            await wire.close()

    asyncio.run(main())


def routed(sender: str, receiver: str) -> Callable[[dict[str, Any]], bool]:
    def match(kind: dict[str, Any]) -> bool:
        return kind["type"] == "peer_message_routed" and (kind["sender"], kind["receiver"]) == (sender, receiver)

    return match


async def members_of(wire: Wire, mob_id: str) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = (await wire.result("mob/members", {"mob_id": mob_id}))["members"]
    return members


def said(member: str, text: str) -> Callable[[dict[str, Any]], bool]:
    return lambda kind: kind["type"] == "turn_committed" and kind["member"] == member and text in (kind["text"] or "")


def test_create_spawn_members_wire_and_refusals(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        assert await wire.result("mob/create", {"definition": pair("pair")}) == {"mob_id": "pair"}
        assert {"mob_id": "pair", "status": "Running"} in (await wire.result("mob/list"))["mobs"]
        assert await wire.result("mob/status", {"mob_id": "pair"}) == {"mob_id": "pair", "status": "Running"}
        assert (await wire.result("mob/members", {"mob_id": "pair"}))["members"] == []  # nothing spawned at create

        spawned = await wire.result("mob/spawn", {"mob_id": "pair", "profile": "a", "agent_identity": "a",
                                                  "labels": {"team": "x"}})
        ref = spawned.pop("member_ref")
        assert spawned == {"mob_id": "pair", "agent_identity": "a"}
        assert json.loads(base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4))) == {"m": "pair", "a": "a"}
        await wire.result("mob/spawn", {"mob_id": "pair", "profile": "b", "agent_identity": "b",
                                        "backend": None, "context": None})  # upstream's empty fields are fine
        members = {m["agent_identity"]: m for m in (await wire.result("mob/members", {"mob_id": "pair"}))["members"]}
        session_a = members["a"].pop("current_session_id")
        assert members["a"] == {"agent_identity": "a", "member_ref": ref, "role": "a", "runtime_mode": "turn_driven",
                                "wired_to": [], "labels": {"team": "x"}, "status": "active", "is_final": False,
                                "generation": 0}

        duplicate = await wire.error("mob/spawn", {"mob_id": "pair", "profile": "a", "agent_identity": "a"})
        assert duplicate["code"] == -32602 and duplicate["data"]["kind"] == "member_already_exists"
        no_profile = await wire.error("mob/spawn", {"mob_id": "pair", "profile": "nope", "agent_identity": "z"})
        assert no_profile["data"]["kind"] == "profile_not_found" and "nope" in no_profile["message"]
        unknown_field = await wire.error("mob/spawn", {"mob_id": "pair", "profile": "a", "agent_identity": "q",
                                                       "colour": "red"})
        assert unknown_field["code"] == -32602 and "colour" in unknown_field["message"]
        no_mob = await wire.error("mob/status", {"mob_id": "ghost-mob"})
        assert no_mob["data"]["kind"] == "mob_not_found"
        bad = await wire.error("mob/create", {"definition": {"id": "bad", "profiles": {"x": {"model": "nope-9"}}}})
        assert bad["code"] == -32602 and bad["data"]["kind"] == "config_invalid"
        assert bad["message"].startswith("<json>: profiles.x.model") and "nope-9" in bad["message"]
        no_file = await wire.error("mob/create", {"path": "/no/such/mob.toml"})  # outside --definitions-root
        assert no_file["data"]["kind"] == "definition_file_refused" and "/no/such/mob.toml" in no_file["message"]
        missing = await wire.error("mob/create", {"path": "no-such-mob.toml"})  # inside: named plainly
        assert missing["message"] == "no-such-mob.toml: cannot read the file: does not exist"
        both = await wire.error("mob/create", {"definition": pair("x"), "path": "mobs/pipeline.toml"})
        assert both["code"] == -32602 and "exactly one" in both["message"]

        # a asks b while they are not wired: the peer message is refused (and a's model is told)
        ask = {"mob_id": "pair", "agent_identity": "a", "content": "ask the b: what is 2+2?"}
        receipt = await wire.result("mob/member_send", ask)
        assert receipt == {"mob_id": "pair", "agent_identity": "a", "member_ref": ref, "handling_mode": "queue"}
        refused = await wire.until_event("pair", lambda k: k["type"] == "peer_message_rejected")
        assert refused["kind"]["reason"] == "not_wired" and refused["mob_id"] == "pair"
        await wire.until_event("pair", said("a", "are not wired"))

        not_addressable = await wire.error("mob/member_send", {**ask, "agent_identity": "b"})
        assert not_addressable["code"] == -32602 and not_addressable["data"]["kind"] == "not_externally_addressable"
        missing = await wire.error("mob/member_send", {**ask, "agent_identity": "ghost"})
        assert missing["data"]["kind"] == "member_not_found" and "ghost" in missing["message"]
        assert (await wire.error("mob/wire", {"mob_id": "pair", "member": "a", "peer": {"local": "ghost"}})
                )["data"]["kind"] == "member_not_found"
        assert (await wire.error("mob/wire", {"mob_id": "pair", "member": "a", "peer": "a"}))["data"]["kind"] == \
            "wiring_error"

        wire_ab = {"mob_id": "pair", "member": "a", "peer": {"local": "b"}}
        assert await wire.result("mob/wire", wire_ab) == {"wired": True}
        assert await wire.result("mob/wire", {"mob_id": "pair", "member": "b", "peer": "a"}) == {"wired": True}
        await wire.result("mob/member_send", ask)
        await wire.until_event("pair", routed("a", "b"))
        await wire.until_event("pair", routed("b", "a"))
        await wire.until_event("pair", said("a", "b says: Here is what I found about 'what is 2+2?'"))
        events = (await wire.result("mob/events", {"mob_id": "pair", "limit": 1000}))["events"]
        assert [e["kind"]["type"] for e in events].count("members_wired") == 1  # wiring is idempotent
        assert [e["cursor"] for e in events] == list(range(1, len(events) + 1))

        history = await wire.result("session/history", {"session_id": session_a})
        notice, reply = history["messages"][-2:]
        assert notice["role"] == "system_notice" and notice["body"].startswith("Peer message from b:")
        assert reply["blocks"][0]["data"]["text"].startswith("b says: Here is what I found")
        turn = await wire.result("turn/start", {"session_id": members["b"]["current_session_id"],
                                                "prompt": "hello b"})  # the adopted member session runs turns
        assert turn["text"] == "You said: hello b"

        assert await wire.result("mob/unwire", {"mob_id": "pair", "member": "a", "peer": "b"}) == {"unwired": True}
        assert {m["agent_identity"]: m["wired_to"] for m in await members_of(wire, "pair")} == {"a": [], "b": []}
        beyond = await wire.error("mob/events", {"mob_id": "pair", "after_cursor": 10_000, "strict": True})
        assert beyond["code"] == -32027 and beyond["data"]["kind"] == "stale_cursor"
        assert beyond["data"]["details"]["requested"] == 10_000
        assert await wire.result("mob/events", {"mob_id": "pair", "after_cursor": 10_000}) == {"events": []}

    drive(server, body)


def test_spawn_many_respawn_and_retire(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        await wire.result("mob/create", {"definition": pair("many")})
        specs = [{"profile": "a", "agent_identity": "a1", "runtime_mode": "autonomous_host", "labels": {"k": "v"}},
                 {"profile": "a", "agent_identity": "a1"},
                 {"profile": "nope", "agent_identity": "z"}, {"profile": "solo", "agent_identity": "s"}]
        results = (await wire.result("mob/spawn_many", {"mob_id": "many", "specs": specs}))["results"]
        assert [(r["status"], r["result"].get("agent_identity") or r["result"]["cause"]) for r in results] == [
            ("spawned", "a1"), ("failed", "member_already_exists"), ("failed", "profile_not_found"),
            ("spawned", "s")]
        duplicate = results[1]["result"]
        assert set(duplicate) == {"cause", "message", "structured_data"} and "a1" in duplicate["message"]
        assert duplicate["structured_data"]["code"] == "member_already_exists"  # mobkat's own code
        assert (await wire.error("mob/wire", {"mob_id": "many", "member": "a1", "peer": "s"}))["data"]["kind"] == \
            "wiring_error"  # comms = false

        respawned = await wire.result("mob/respawn", {"mob_id": "many", "agent_identity": "a1"})
        assert respawned["status"] == "completed" and respawned["receipt"]["identity"] == "a1"
        members = {m["agent_identity"]: m for m in (await wire.result("mob/members", {"mob_id": "many"}))["members"]}
        assert members["a1"]["generation"] == 1 and members["s"]["generation"] == 0
        assert (members["a1"]["runtime_mode"], members["a1"]["labels"]) == ("autonomous_host", {"k": "v"})
        assert members["s"]["runtime_mode"] == "turn_driven"  # the profile's
        kickoff = await wire.until_event("many", lambda k: k["type"] == "turn_committed" and k["member"] == "a1"
                                         and k["generation"] == 1)  # an autonomous member's kickoff turn
        assert "You have been spawned as 'a1'" in kickoff["kind"]["text"]
        assert await wire.result("mob/retire", {"mob_id": "many", "agent_identity": "a1"}) == {"retired": True}
        assert await wire.result("mob/retire", {"mob_id": "many", "agent_identity": "a1"}) == {"retired": True}
        assert [m["agent_identity"] for m in (await wire.result("mob/members", {"mob_id": "many"}))["members"]] == ["s"]
        assert (await wire.error("mob/respawn", {"mob_id": "many", "agent_identity": "a1"}))["data"]["kind"] == \
            "member_not_found"

    drive(server, body)


def test_research_team_from_toml_relays_through_the_lead(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        path = str(ROOT / "mobs" / "research-team.toml")
        assert await wire.result("mob/create", {"path": path}) == {"mob_id": "research_team"}
        again = await wire.error("mob/create", {"path": path})
        assert again["data"]["kind"] == "mob_already_exists"
        specs = [{"profile": "lead", "agent_identity": "lead"}, {"profile": "market", "agent_identity": "market"}]
        await wire.result("mob/spawn_many", {"mob_id": "research_team", "specs": specs})
        members = (await wire.result("mob/members", {"mob_id": "research_team"}))["members"]
        assert {m["agent_identity"]: m["wired_to"] for m in members} == {"lead": ["market"], "market": ["lead"]}
        assert {m["runtime_mode"] for m in members} == {"autonomous_host"}

        question = "ask the market: how many field technicians would use a voice assistant?"
        await wire.result("mob/member_send", {"mob_id": "research_team", "agent_identity": "lead",
                                              "content": [{"type": "text", "text": question}]})
        await wire.until_event("research_team", routed("lead", "market"))
        await wire.until_event("research_team", routed("market", "lead"))
        await wire.until_event("research_team", said("lead", "market says: Here is what I found about 'how many"))
        refused = await wire.error("mob/member_send", {"mob_id": "research_team", "agent_identity": "market",
                                                       "content": "hi"})
        assert refused["data"]["kind"] == "not_externally_addressable"
        assert await wire.result("mob/lifecycle", {"mob_id": "research_team", "action": "destroy"}) == {
            "mob_id": "research_team", "action": "destroy", "ok": True}

    drive(server, body)


def test_streams_deliver_notifications_until_closed_or_stopped(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        await wire.result("mob/create", {"definition": pair("streamed")})
        await wire.result("mob/spawn", {"mob_id": "streamed", "profile": "a", "agent_identity": "a"})
        everything = (await wire.result("mob/stream_open", {"mob_id": "streamed", "events": "mob"}))
        assert everything["opened"] is True
        only_b = await wire.error("mob/stream_open", {"mob_id": "streamed", "agent_identity": "b", "events": "mob"})
        assert only_b["data"]["kind"] == "member_not_found"
        await wire.result("mob/spawn", {"mob_id": "streamed", "profile": "b", "agent_identity": "b"})
        about_b = (await wire.result("mob/stream_open", {"mob_id": "streamed", "agent_identity": "b",
                                                 "events": "mob"}))["stream_id"]
        await wire.result("mob/wire", {"mob_id": "streamed", "member": "a", "peer": "b"})

        def on(stream_id: str, kind: str) -> Callable[[dict[str, Any]], bool]:
            return lambda n: (n["method"] == "mob/stream_event" and n["params"]["stream_id"] == stream_id
                              and n["params"]["event"]["kind"]["type"] == kind)

        spawned = await wire.notification(on(everything["stream_id"], "member_spawned"))
        assert spawned["params"]["sequence"] == 1 and spawned["params"]["event"]["kind"]["member"] == "b"
        first_b = await wire.notification(on(about_b, "members_wired"))
        assert first_b["params"]["sequence"] == 1 and first_b["params"]["event"]["mob_id"] == "streamed"
        await wire.notification(on(everything["stream_id"], "members_wired"))

        closed = await wire.result("mob/stream_close", {"stream_id": about_b})
        assert closed == {"stream_id": about_b, "closed": True, "already_closed": False}
        end = await wire.notification(lambda n: n["method"] == "mob/stream_end")
        assert end["params"] == {"stream_id": about_b, "ended": True, "reason": "closed"}
        assert (await wire.result("mob/stream_close", {"stream_id": about_b}))["already_closed"] is True
        assert (await wire.error("mob/stream_close", {"stream_id": "nope"}))["data"]["kind"] == "stream_not_found"

        # stopping the mob ends the mob-wide stream after its mob_stopped event
        await wire.result("mob/lifecycle", {"mob_id": "streamed", "action": "stop"})
        await wire.notification(on(everything["stream_id"], "mob_stopped"))
        stopped = await wire.notification(lambda n: n["method"] == "mob/stream_end"
                                          and n["params"]["stream_id"] == everything["stream_id"])
        assert stopped["params"]["reason"] == "mob_stopped"

    drive(server, body)


def test_lifecycle_stop_refuses_mutations_then_destroy_forgets(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        await wire.result("mob/create", {"definition": pair("cycle")})
        await wire.result("mob/spawn", {"mob_id": "cycle", "profile": "a", "agent_identity": "a"})
        assert await wire.result("mob/lifecycle", {"mob_id": "cycle", "action": "stop"}) == {
            "mob_id": "cycle", "action": "stop", "ok": True}
        assert (await wire.result("mob/status", {"mob_id": "cycle"}))["status"] == "Stopped"
        refused = await wire.error("mob/spawn", {"mob_id": "cycle", "profile": "b", "agent_identity": "b"})
        assert refused["code"] == -32602 and refused["data"]["kind"] == "invalid_transition"
        assert "Stopped" in refused["message"] and "spawn" in refused["message"]
        assert (await wire.error("mob/member_send", {"mob_id": "cycle", "agent_identity": "a", "content": "x"})
                )["data"]["kind"] == "invalid_transition"
        assert [m["agent_identity"] for m in await members_of(wire, "cycle")] == ["a"]
        kinds = [e["kind"]["type"] for e in (await wire.result("mob/events", {"mob_id": "cycle"}))["events"]]
        assert kinds[-1] == "mob_stopped"
        before = (await members_of(wire, "cycle"))[0]
        assert await wire.result("mob/lifecycle", {"mob_id": "cycle", "action": "resume"}) == {
            "mob_id": "cycle", "action": "resume", "ok": True}
        after = (await members_of(wire, "cycle"))[0]  # back on its session, a new incarnation
        assert after["current_session_id"] == before["current_session_id"]
        assert after["generation"] == before["generation"] + 1
        again = await wire.error("mob/lifecycle", {"mob_id": "cycle", "action": "resume"})
        assert again["code"] == -32602 and again["data"]["kind"] == "invalid_transition"
        assert again["message"].startswith("invalid state transition: Running -> Running")
        assert (await wire.result("mob/lifecycle", {"mob_id": "cycle", "action": "destroy"}))["ok"] is True
        assert (await wire.error("mob/status", {"mob_id": "cycle"}))["data"]["kind"] == "mob_not_found"
        assert await wire.result("mob/create", {"definition": pair("cycle")}) == {"mob_id": "cycle"}  # id is free again
        await wire.result("mob/lifecycle", {"mob_id": "cycle", "action": "destroy"})

    drive(server, body)


async def _observe(ws: Any, observation: str, timeout: float = 15.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            data: dict[str, Any] = json.loads(await ws.recv())
            if data.get("observation") == observation:
                return data


def test_member_live_open_streams_a_spoken_question_that_relays(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        await wire.result("mob/create", {"path": str(ROOT / "mobs" / "live-demo.toml")})
        specs = [{"profile": "host", "agent_identity": "host"},
                 {"profile": "researcher", "agent_identity": "researcher"}]
        await wire.result("mob/spawn_many", {"mob_id": "live-demo", "specs": specs})
        auto = await wire.until_event("live-demo", lambda k: k["type"] == "live_opened")  # open_on_spawn
        member = {"mob_id": "live-demo", "agent_identity": "host"}

        webrtc = await wire.error("mob/member_live_open", {**member, "transport": "webrtc"})
        assert webrtc["code"] == -32602 and webrtc["data"]["kind"] == "live_transport_unsupported"
        opened = await wire.result("mob/member_live_open", member)
        channel = opened["channel_id"]
        assert channel == auto["kind"]["channel_id"]  # the host takes over the channel the mob opened
        assert opened["transport"]["transport"] == "websocket" and opened["transport"]["token"]
        assert "&format=pcm_24k_mono" in opened["transport"]["url"]
        assert opened["capabilities"]["audio_in"] is True and opened["turning_mode"] == "provider_managed"
        bound = await wire.error("mob/member_live_open", member)
        assert bound["data"]["kind"] == "live_channel_already_bound"

        async with websockets.connect(opened["transport"]["url"]) as ws:
            await _observe(ws, "ready")
            pcm = encode_speech("ask the researcher: what do meerkats eat?") + silence(800)
            for start in range(0, len(pcm), 1920):  # 40 ms frames
                await ws.send(pcm[start:start + 1920])
            heard = await _observe(ws, "user_transcript_final")
            assert heard["text"] == "ask the researcher: what do meerkats eat?"
            await wire.until_event("live-demo", routed("host", "researcher"))
            await wire.until_event("live-demo", routed("researcher", "host"))
            answer = await wire.until_event("live-demo", lambda k: k["type"] == "assistant_transcript"
                                            and "what do meerkats eat" in k["text"])
            assert answer["kind"]["member"] == "host"

            status = await wire.result("mob/member_live_status", member)
            assert status == {"channel_id": channel, "status": {"status": "ready"}}
            for verb, ack in (("refresh", "queued"), ("interrupt", "interrupted")):
                control = {**member, "channel_id": channel, "verb": {"verb": verb}}
                assert await wire.result("mob/member_live_control", control) == {"verb": verb, "status": ack}
            wrong = await wire.error("mob/member_live_close", {**member, "channel_id": "not-a-channel"})
            assert wrong["code"] == -32602 and wrong["data"]["kind"] == "live_channel_not_found"
            closed = await wire.result("mob/member_live_close", {**member, "channel_id": channel})
            assert closed == {"status": "closed"}
            assert (await wire.result("mob/member_live_status", {**member, "channel_id": channel}))["status"] == {
                "status": "closed"}
            with pytest.raises(websockets.ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
        gone = await wire.error("mob/member_live_status", member)
        assert gone["data"]["kind"] == "live_channel_not_found" and "no active live channel" in gone["message"]
        await wire.result("mob/lifecycle", {"mob_id": "live-demo", "action": "destroy"})

    drive(server, body)


def test_member_live_methods_need_live_ws() -> None:
    async def main() -> None:
        rpc = await RawRpc.start("--simulator", "--isolated", "--realm-backend", "memory")
        try:
            methods = (await rpc.result("initialize", {}))["methods"]
            assert "mob/create" in methods and "mob/member_live_open" not in methods
            missing = await rpc.call("mob/member_live_open", {"mob_id": "m", "agent_identity": "a"})
            assert missing["error"]["code"] == -32601 and "--live-ws" in missing["error"]["message"]
            caps = {c["id"]: c["status"] for c in (await rpc.result("capabilities/get", {}))["capabilities"]}
            assert caps["mob"] == "Available"
        finally:
            await rpc.close()

    asyncio.run(main())
