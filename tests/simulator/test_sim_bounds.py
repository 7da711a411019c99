"""A Realtime connection's buffers are bounded: past a bound the client gets the real API's ``error``
event (parsed by the openai SDK), nothing of the event is kept, and the connection goes on."""

from __future__ import annotations

import base64
import tracemalloc
from typing import Any

import pytest
from sim_helpers import connect, recv_until, run, user_text

from mobkat.simulator import Simulator, bounds
from mobkat.simulator.stats import RECENT_CHAT_REQUESTS, RECENT_CLIENT_EVENTS, SimulatorStats

FRAME = 2 * 1024 * 1024  # 2 MiB of PCM per append, as in the defect report
MiB = 1024 * 1024


def test_input_audio_stays_bounded_and_overflow_is_an_error(sim: Simulator) -> None:
    frames = 40  # 80 MiB of audio offered; the buffer keeps at most 5 minutes (14.4 MB)
    fit = bounds.MAX_BUFFERED_AUDIO_BYTES // FRAME
    chunk = base64.b64encode(bytes(FRAME)).decode("ascii")

    async def scenario() -> tuple[list[Any], int]:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
            await recv_until(conn, "session.updated")
            tracemalloc.start()
            try:
                for n in range(frames):
                    await conn.input_audio_buffer.append(audio=chunk, event_id=f"append-{n}")
                await conn.input_audio_buffer.commit()
                events = await recv_until(conn, "input_audio_buffer.committed", timeout=30)
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            await conn.input_audio_buffer.append(audio=chunk)  # room again after the commit
            await conn.input_audio_buffer.commit()
            assert [e.type for e in await recv_until(conn, "input_audio_buffer.committed", timeout=30)][-1] == \
                "input_audio_buffer.committed"
            return events, peak

    events, peak = run(scenario(), timeout=60)
    errors = [e for e in events if e.type == "error"]
    assert [e.error.event_id for e in errors] == [f"append-{n}" for n in range(fit, frames)]
    first = errors[0].error
    assert (first.type, first.code, first.param) == ("invalid_request_error", "input_audio_buffer_full", "audio")
    assert f"limit of {bounds.MAX_BUFFERED_AUDIO_BYTES} bytes (300 s" in first.message
    assert peak < bounds.MAX_BUFFERED_AUDIO_BYTES + 32 * MiB, peak  # not the 80 MiB offered


def test_one_append_larger_than_15_mib_is_refused_before_decoding(sim: Simulator) -> None:
    async def scenario() -> list[Any]:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.input_audio_buffer.append(audio="A" * (bounds.MAX_APPEND_AUDIO_CHARS + 4), event_id="big")
            return await recv_until(conn, "error")

    error = run(scenario())[-1].error
    assert (error.type, error.code, error.param, error.event_id) == (
        "invalid_request_error", "string_above_max_length", "audio", "big")
    assert f"maximum length {15 * MiB}, but got a string with length {15 * MiB + 4}" in error.message


def test_a_full_conversation_refuses_items_and_responses(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounds, "MAX_CONVERSATION_ITEMS", 3)

    async def scenario() -> list[Any]:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "one")  # the user item and the answer: 2 items
            answered = await recv_until(conn, "response.done")
            first = next(e.item.id for e in answered if e.type == "conversation.item.done")
            await user_text(conn, "two", respond=False)  # the 3rd
            await recv_until(conn, "conversation.item.done")
            await user_text(conn, "three", respond=False)
            refused_item = (await recv_until(conn, "error"))[-1]
            await conn.response.create()
            refused_response = (await recv_until(conn, "error"))[-1]
            await conn.conversation.item.delete(item_id=first)
            await recv_until(conn, "conversation.item.deleted")
            await user_text(conn, "four", respond=False)  # room again
            return [refused_item, refused_response, (await recv_until(conn, "conversation.item.done"))[-1]]

    item, response, done = run(scenario())
    assert (item.error.code, item.error.type) == ("conversation_full", "invalid_request_error")
    assert "3 items, the limit is 3" in item.error.message
    assert response.error.code == "conversation_full"
    assert done.item.content[0].text == "four"


def test_a_conversation_holds_a_bounded_amount_of_text(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounds, "MAX_CONVERSATION_CHARS", 1000)

    async def scenario() -> list[Any]:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "x" * 600, respond=False)
            await recv_until(conn, "conversation.item.done")
            await user_text(conn, "y" * 600, respond=False)
            return await recv_until(conn, "error")

    error = run(scenario())[-1].error
    assert (error.code, error.param) == ("conversation_full", "item")
    assert "holds 600 characters and this item adds 600" in error.message


def test_long_running_stats_keep_only_recent_records() -> None:
    stats = SimulatorStats(record_frames=False)
    number = stats.connection_opened()
    for n in range(RECENT_CLIENT_EVENTS + 500):
        stats.client_event(number, f"e{n}")
        stats.server_frame(number, "{}", 0.0)
    for n in range(RECENT_CHAT_REQUESTS + 5):
        stats.chat_request({"n": n})
    assert len(stats.client_events) == RECENT_CLIENT_EVENTS
    assert stats.client_events[-1].type == f"e{RECENT_CLIENT_EVENTS + 499}"
    assert [body["n"] for body in stats.chat_requests] == list(range(5, RECENT_CHAT_REQUESTS + 5))
    assert stats.server_frames == {} and stats.frames_sent == RECENT_CLIENT_EVENTS + 500
