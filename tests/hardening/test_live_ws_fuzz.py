"""Fuzzing the live WebSocket: random text and binary frames get a typed answer; the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobkat.client import MobkatClient
from tests.rpc.helpers import TcpServer, server_env

CLOSE_CODES = {1000, 1003, 1007, 1008, 1009, 1011}
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=3), max_leaves=6)
FRAMES = st.lists(st.one_of(
    st.binary(max_size=96),
    st.text(max_size=40),
    VALUES.map(json.dumps),
    st.fixed_dictionaries({"kind": st.sampled_from(["audio", "text", "image", "video_frame", "nope"])},
                          optional={"data": st.text(max_size=20), "text": st.text(max_size=20),
                                    "sample_rate_hz": st.integers(0, 50_000), "channels": st.integers(0, 3)},
                          ).map(json.dumps),
), min_size=1, max_size=12)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    state: Path = tmp_path_factory.mktemp("ws-fuzz")
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(state), "--realm", "fuzz"],
                    env=server_env())
    yield tcp
    assert tcp.stop() == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(FRAMES)
def test_random_frames_are_answered_and_the_server_keeps_serving(server: TcpServer, frames: list[Any]) -> None:
    asyncio.run(_drive(server, frames))


async def _drive(server: TcpServer, frames: list[str | bytes]) -> None:
    async with await MobkatClient().connect(tcp=server.address) as client:
        created = await client.create_session("hello", model="gpt-realtime-2")
        before = await client.read_session_history(created.session_id)
        opened = await client.live_open(created.session_id)
        assert opened.transport.url is not None
        async with websockets.connect(opened.transport.url) as socket:
            closed_by_server = False
            for frame in frames:
                try:
                    await socket.send(frame)
                except websockets.ConnectionClosed:
                    closed_by_server = True
                    break
            if not closed_by_server:
                await socket.send(json.dumps({"kind": "text", "text": "end of fuzz"}))
            try:
                async with asyncio.timeout(20):
                    async for raw in socket:
                        observation = json.loads(raw)
                        assert "observation" in observation or "error" in observation
                        if observation.get("observation") == "turn_completed":
                            break
            except websockets.ConnectionClosed:
                pass
            if socket.close_code is not None:
                assert socket.close_code in CLOSE_CODES
        after = await client.read_session_history(created.session_id)
        assert after.messages[:len(before.messages)] == before.messages  # nothing committed was lost
        again = await client.create_session("still serving?", model="gpt-5.5")
        assert again.text == "You said: still serving?"
