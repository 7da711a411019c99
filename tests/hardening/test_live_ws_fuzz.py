"""Fuzzing the live WebSocket: random text and binary frames get a typed answer; the server keeps serving."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobkat.client import MobkatClient
from tests.hardening.fuzz_settings import FUZZ_EXAMPLES
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


SESSION_EXAMPLES = 25  # examples per live session, so that its history (seeded on every open) stays short


@dataclass
class Fuzzing:
    """What the examples share: one server, one event loop, one client connection, a live session."""

    server: TcpServer
    loop: asyncio.AbstractEventLoop
    client: MobkatClient
    session_id: str = ""
    examples: int = 0

    async def session(self) -> str:
        """The live session for the next example (a fresh one every ``SESSION_EXAMPLES``)."""
        if self.examples % SESSION_EXAMPLES == 0:
            self.session_id = (await self.client.create_session("hello", model="gpt-realtime-2")).session_id
        self.examples += 1
        return self.session_id


@pytest.fixture(scope="module")
def fuzzing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzing]:
    state: Path = tmp_path_factory.mktemp("ws-fuzz")
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(state), "--realm", "fuzz"],
                    env=server_env())
    loop = asyncio.new_event_loop()
    try:
        client = loop.run_until_complete(MobkatClient().connect(tcp=tcp.address))
        yield Fuzzing(tcp, loop, client)
        again = loop.run_until_complete(client.create_session("still serving?", model="gpt-5.5"))
        assert again.text == "You said: still serving?"
        loop.run_until_complete(client.close())
    finally:
        loop.close()
        assert tcp.stop() == 0


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES)
def test_random_frames_are_answered_and_the_server_keeps_serving(fuzzing: Fuzzing, frames: list[Any]) -> None:
    fuzzing.loop.run_until_complete(_drive(fuzzing, frames))


async def _drive(fuzzing: Fuzzing, frames: list[str | bytes]) -> None:
    client = fuzzing.client
    session_id = await fuzzing.session()
    before = await client.read_session_history(session_id)
    opened = await client.live_open(session_id)
    assert opened.transport.url is not None
    try:
        await _fuzz_socket(opened.transport.url, frames)
    finally:
        await client.live_close(opened.channel_id)  # the next example opens the session's channel again
    after = await client.read_session_history(session_id)
    assert after.messages[:len(before.messages)] == before.messages  # nothing committed was lost
    assert (await client.live_status(opened.channel_id)).status == "closed"


async def _fuzz_socket(url: str, frames: list[str | bytes]) -> None:
    async with websockets.connect(url) as socket:
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
