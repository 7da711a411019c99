"""The live WebSocket transport of a real server (over TCP JSON-RPC): tokens, frames, limits, close."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from mobkat.audio import encode_speech, silence
from mobkat.client import LiveSocketRejected, MobkatClient
from mobkat.live.wire import LiveOpenResult
from tests.rpc.helpers import TcpServer, server_env

TTL_S = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    state = tmp_path_factory.mktemp("live-ws")
    env = server_env(MOBKAT_LIVE_TOKEN_TTL_S=str(TTL_S))
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(state), "--realm", "ws"],
                    env=env)
    yield tcp
    assert tcp.stop() == 0  # SIGTERM is a clean stop


Body = Callable[[MobkatClient], Awaitable[None]]


def drive(server: TcpServer, body: Body) -> None:
    async def main() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            await body(client)

    asyncio.run(main())


async def open_live(client: MobkatClient) -> LiveOpenResult:
    created = await client.create_session("hello", model="gpt-realtime-2")
    return await client.live_open(created.session_id)


async def closed(client: MobkatClient, channel_id: str) -> None:
    async with asyncio.timeout(10):
        while (await client.live_status(channel_id)).status != "closed":
            await asyncio.sleep(0.02)


async def rejection(url: str) -> LiveSocketRejected:
    socket = MobkatClient().live_connect(url)
    async with socket:
        with pytest.raises(LiveSocketRejected) as refused:
            await socket.wait_for("ready")
    assert refused.value.close_code == 1008
    return refused.value


def test_token_is_single_use(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        async with client.live_connect(opened) as first:
            assert (await first.wait_for("ready")).observation == "ready"  # buffered since live/open
            again = await rejection(opened.transport.url or "")
            assert again.code == "token_reused" and again.error == "live_token_rejected"
            await first.send_text("hello there")
            assert (await first.wait_for("turn_completed")).observation == "turn_completed"
        await closed(client, opened.channel_id)  # closing the socket closed the channel

    drive(server, body)


def test_unknown_missing_foreign_and_expired_tokens_are_refused(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        first, second = await open_live(client), await open_live(client)
        url = first.transport.url or ""
        base = url.split("?")[0]
        assert (await rejection(f"{base}?token=nope&channel={first.channel_id}")).code == "token_unknown"
        assert (await rejection(f"{base}?channel={first.channel_id}")).code == "token_missing"
        foreign = url.replace(first.channel_id, second.channel_id)
        assert (await rejection(foreign)).code == "token_channel_mismatch"
        await asyncio.sleep(TTL_S + 0.2)  # let the second channel's token outlive its TTL unused
        expired = await rejection(second.transport.url or "")
        assert expired.code == "token_expired" and "60" not in expired.message
        assert (await client.live_status(second.channel_id)).status == "ready"  # the channel itself lives on

    drive(server, body)


def test_invalid_text_frame_closes_the_channel(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        async with client.live_connect(opened) as socket:
            await socket.send_raw("{not json")
            with pytest.raises(LiveSocketRejected) as refused:
                await socket.wait_for("turn_completed")
        assert refused.value.code == "invalid_text_frame" and refused.value.close_code == 1007
        await closed(client, opened.channel_id)

    drive(server, body)


def test_oversized_frame_closes_with_1009(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        async with client.live_connect(opened) as socket:
            await socket.send_audio(bytes(2 * 1024 * 1024 + 2))
            rest = [o.observation async for o in socket]
        assert socket.close_code == 1009 and "turn_completed" not in rest
        await closed(client, opened.channel_id)

    drive(server, body)


def test_binary_frame_without_format_closes_the_channel(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        url = (opened.transport.url or "").replace("&format=pcm_24k_mono", "")
        async with client.live_connect(url) as socket:
            await socket.send_text("text frames work without a format")
            assert (await socket.wait_for("turn_completed")).observation == "turn_completed"
            await socket.send_audio(silence(100))
            with pytest.raises(LiveSocketRejected) as refused:
                await socket.wait_for("turn_completed")
        assert refused.value.code == "binary_without_format" and refused.value.close_code == 1003
        await closed(client, opened.channel_id)

    drive(server, body)


def test_refused_chunks_are_reported_and_the_socket_stays_open(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        async with client.live_connect(opened) as socket:
            await socket.send_chunk({"kind": "smell", "data": "x"})
            await socket.send_chunk({"kind": "image", "idempotency_key": "k1", "mime": "image/png", "data": "aGk="})
            await socket.send_chunk({"kind": "audio", "data": "%%%", "sample_rate_hz": 24000, "channels": 1})
            await socket.send_audio(b"\x00\x01\x02")  # odd byte count: not pcm16
            kinds = []
            for _ in range(4):
                rejected = await socket.wait_for("command_rejected")
                assert rejected.observation == "command_rejected" and rejected.code.reason
                kinds.append(rejected.code.reason["kind"])
            assert kinds == ["unsupported_input_chunk_variant", "image_input_transport_unsupported",
                             "audio_input_invalid_base64", "audio_input_format_mismatch"]
            await socket.send_audio(encode_speech("remember the codeword fig") + silence(800), frame_ms=20)
            heard = await socket.wait_for("user_transcript_final")
            assert heard.observation == "user_transcript_final" and heard.text == "remember the codeword fig"
            assert (await socket.wait_for("turn_completed")).observation == "turn_completed"

    drive(server, body)


def test_only_the_live_path_upgrades(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        opened = await open_live(client)
        wrong = (opened.transport.url or "").replace("/live/ws", "/elsewhere")
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(wrong):
                pass
        assert refused.value.response.status_code == 404
        async with websockets.connect(opened.transport.url or "") as ws:  # the token was not spent by the 404
            first = json.loads(await ws.recv())
            assert first["observation"] in ("status_changed", "ready")

    drive(server, body)


def test_tcp_clients_share_the_realm(server: TcpServer, tmp_path: Path) -> None:
    async def body(client: MobkatClient) -> None:
        created = await client.create_session("hi", model="gpt-5.5", labels={"by": "tcp"})
        async with await MobkatClient().connect(tcp=server.address) as other:
            listed = await other.list_sessions(labels={"by": "tcp"})
            assert [s.session_id for s in listed] == [created.session_id]
            config = await other.get_config()
            assert config.realm_id == "ws" and config.backend == "sqlite"

    drive(server, body)


def test_live_open_seeds_within_the_requested_window(server: TcpServer) -> None:
    async def body(client: MobkatClient) -> None:
        created = await client.create_session("a first question " * 20, model="gpt-realtime-2")
        await client.start_turn(created.session_id, "and a second one")
        windowed = await client.live_open(created.session_id, seed_max_chars=60)
        assert windowed.continuity.mode == "degraded"  # the first exchange did not fit
        await client.live_close(windowed.channel_id)
        whole = await client.live_open(created.session_id)
        assert whole.continuity.mode == "transcript_only"
        assert whole.continuity.seeded_messages == 4
        await client.live_close(whole.channel_id)

    drive(server, body)
