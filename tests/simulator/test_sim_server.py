"""Simulator lifecycle, addressing and HTTP edges; the strict frame validator itself."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request

import pydantic
import pytest
from sim_helpers import connect, recv_until, run, transcript_of, user_text, validate_server_frames
from websockets.exceptions import ConnectionClosedOK

from mobkat.errors import InvalidInputError
from mobkat.simulator import Simulator


def test_refuses_non_loopback_hosts_unless_allowed() -> None:
    with pytest.raises(InvalidInputError, match=r"'192\.0\.2\.7' is not a loopback address"):
        Simulator(host="192.0.2.7")
    assert Simulator(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"
    assert Simulator(host="localhost").host == "localhost"
    with pytest.raises(InvalidInputError, match="not running"):
        _ = Simulator().base_url


def test_port_in_use_is_a_clear_error(sim: Simulator) -> None:
    with pytest.raises(InvalidInputError, match=f"cannot listen on 127.0.0.1:{sim.port}"):
        Simulator(port=sim.port).start()


def test_runs_on_the_callers_loop() -> None:
    async def scenario() -> list[str]:
        async with Simulator() as sim:
            assert sim.base_url == f"http://127.0.0.1:{sim.port}/v1"
            async with connect(sim) as conn:
                await recv_until(conn, "session.created")
                await user_text(conn, "same loop")
                assert transcript_of(await recv_until(conn, "response.done")) == "You said: same loop"
            return sim.stats.all_server_frames()

    frames = run(scenario())
    assert validate_server_frames(frames) == len(frames) > 10


def test_stop_closes_open_realtime_connections(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await asyncio.to_thread(sim.stop)
            with pytest.raises(ConnectionClosedOK) as closed:
                await asyncio.wait_for(conn.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001

    run(scenario())
    assert not sim.running


def test_realtime_endpoint_needs_model_and_upgrade(sim: Simulator) -> None:
    for url, status in ((f"{sim.base_url}/realtime", 400), (f"{sim.base_url}/realtime?model=gpt-realtime-2", 426)):
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=5)
        assert caught.value.code == status
        assert json.loads(caught.value.read())["error"]["message"]


def test_the_frame_validator_is_strict() -> None:
    good = '{"type":"input_audio_buffer.cleared","event_id":"e1"}'
    assert validate_server_frames([good]) == 1
    for bad in (
        '{"type":"input_audio_buffer.cleared"}',  # missing event_id
        '{"type":"response.finished","event_id":"e1"}',  # unknown type
        '{"type":"conversation.item.truncated","event_id":"e1","item_id":"i","content_index":0,"audio_end_ms":"x"}',
    ):
        with pytest.raises(pydantic.ValidationError):
            validate_server_frames([bad])


def test_stop_leaves_no_thread_behind() -> None:
    sim = Simulator().start()
    assert any(t.name == "mobkat-simulator" for t in threading.enumerate())
    sim.stop()
    sim.stop()  # idempotent
    assert not any(t.name == "mobkat-simulator" for t in threading.enumerate())
