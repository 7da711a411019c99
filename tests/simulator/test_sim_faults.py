"""Scripted faults: dropped sockets, delays, error events, session expiry (every frame still validated)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sim_helpers import connect, recv_until, run, transcript_of, types_of, user_text
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

from mobkat.simulator import Simulator, SimulatorScript, ToolRule


def test_drop_after_n_events_aborts_without_close_frame_then_reconnect_works(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            sim.drop_connections_after(2)
            await user_text(conn, "hello")
            got = [await asyncio.wait_for(conn.recv(), 5) for _ in range(2)]
            assert types_of(got) == ["conversation.item.added", "conversation.item.done"]
            with pytest.raises(ConnectionClosedError) as closed:
                await asyncio.wait_for(conn.recv(), 5)
            assert closed.value.rcvd is None  # no close frame: the TCP connection was cut
        assert sim.script.faults.drop_after_events is None  # fired once, then cleared
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "again")
            assert transcript_of(await recv_until(conn, "response.done")) == "You said: again"

    run(scenario())
    assert sim.stats.connections_accepted == 2
    assert len(sim.stats.server_frames[1]) == 3  # session.created + the two allowed events


def test_repeating_drop_hits_every_new_connection(sim: Simulator) -> None:
    sim.drop_connections_after(1, once=False)

    async def scenario() -> None:
        for _ in range(2):
            async with connect(sim) as conn:
                await recv_until(conn, "session.created")
                await user_text(conn, "hi")
                with pytest.raises(ConnectionClosedError):
                    await asyncio.wait_for(conn.recv(), 5)

    run(scenario())
    assert [len(frames) for frames in sim.stats.server_frames.values()] == [1, 1]


def test_delay_before_every_event(sim: Simulator) -> None:
    async def scenario() -> float:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            sim.delay_events(0.03)
            started = time.monotonic()
            await conn.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}
            )
            events = await recv_until(conn, "conversation.item.done")
            sim.delay_events(0)
            assert len(events) == 2
            return time.monotonic() - started

    assert run(scenario()) >= 0.06


def test_error_event_on_demand_and_connection_survives(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            assert sim.send_error("rate_limit_exceeded", "Slow down.", type="rate_limit_error") == 1
            error = (await recv_until(conn, "error"))[0].error
            assert (error.type, error.code, error.message) == ("rate_limit_error", "rate_limit_exceeded", "Slow down.")
            await user_text(conn, "still here")
            assert transcript_of(await recv_until(conn, "response.done")) == "You said: still here"
            sim.send_error("server_error", "Bye.", close=True)
            assert (await recv_until(conn, "error"))[0].error.message == "Bye."
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(conn.recv(), 5)

    run(scenario())


def test_error_queued_for_the_next_connection(sim: Simulator) -> None:
    assert sim.send_error("server_error", "Queued.") == 0

    async def scenario() -> None:
        async with connect(sim) as conn:
            events = await recv_until(conn, "error")
            assert types_of(events) == ["session.created", "error"]
            assert events[1].error.message == "Queued."

    run(scenario())
    assert sim.script.faults.pending_errors == []


def test_expire_sessions_now(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            assert sim.expire_sessions() == 1
            error = (await recv_until(conn, "error"))[0].error
            assert error.code == "session_expired"
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(conn.recv(), 5)

    run(scenario())


def test_expire_after_a_duration(sim: Simulator) -> None:
    async def scenario() -> float:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            started = time.monotonic()
            sim.expire_sessions_after(0.2)  # counted from connect, applied to the open connection
            error = (await recv_until(conn, "error"))[0].error
            assert error.code == "session_expired"
            with pytest.raises(ConnectionClosedOK):
                await asyncio.wait_for(conn.recv(), 5)
            return time.monotonic() - started

    elapsed = run(scenario())
    assert 0.1 <= elapsed < 2


def test_script_can_be_replaced_between_steps(sim: Simulator) -> None:
    tool = {"type": "function", "name": "ping", "parameters": {"type": "object", "properties": {}}}

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "tools": [tool], "output_modalities": ["text"]})
            await recv_until(conn, "session.updated")
            await user_text(conn, "ping now")
            assert "response.function_call_arguments.done" not in types_of(await recv_until(conn, "response.done"))
            sim.script = SimulatorScript(tool_rules=[ToolRule(pattern="ping", tool="ping")])
            await user_text(conn, "ping again")
            assert "response.function_call_arguments.done" in types_of(await recv_until(conn, "response.done"))

    run(scenario())


def test_stats_record_client_events_in_order(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "one")
            await recv_until(conn, "response.done")
            await conn.input_audio_buffer.clear()
            await recv_until(conn, "input_audio_buffer.cleared")

    run(scenario())
    records = sim.stats.client_events
    assert [r.type for r in records] == ["conversation.item.create", "response.create", "input_audio_buffer.clear"]
    assert all(r.connection == 1 for r in records)
    assert [r.received_at for r in records] == sorted(r.received_at for r in records)
    assert sim.stats.wait_for(lambda s: s.open_connections == 0, timeout=5)
