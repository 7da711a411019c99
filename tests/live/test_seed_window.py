"""The seed window: a provider conversation is seeded with the most recent whole exchanges that fit."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.actor import SessionHandle
from mobkat.errors import InvalidInputError
from mobkat.history import AssistantBlock, BlockAssistantRow, HistoryRow, ToolResult, ToolResultsRow, UserRow
from mobkat.live.wire import TextChunk
from mobkat.providers.realtime_items import (
    DEFAULT_SEED_MAX_CHARS,
    SEED_PREFIX,
    build_seed,
    history_to_realtime_items,
    row_seed_entries,
)
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from tests.live.conftest import open_channel


def exchange(text: str, reply: str | None = None) -> list[HistoryRow]:
    return [UserRow(content=text), BlockAssistantRow(blocks=[AssistantBlock.text(reply or f"You said: {text}")])]


def tool_exchange(text: str) -> list[HistoryRow]:
    call = AssistantBlock.tool_use("call_1", "lookup", {"q": text})
    return [UserRow(content=text), BlockAssistantRow(blocks=[call], stop_reason="tool_use"),
            ToolResultsRow(results=[ToolResult(tool_use_id="call_1", content="found")]),
            BlockAssistantRow(blocks=[AssistantBlock.text("Tool lookup returned: found")])]


def chars(rows: list[HistoryRow]) -> int:
    return sum(entry.chars for row in rows for entry in row_seed_entries(row))


def texts(items: list[dict[str, Any]]) -> list[str]:
    return [item["content"][0]["text"] if item["type"] == "message" else item["type"] for item in items]


# -- the seed itself -------------------------------------------------------------------------------------
def test_a_history_that_fits_is_seeded_whole_with_the_stable_ids() -> None:
    rows = [*exchange("one"), *tool_exchange("two"), *exchange("three")]
    seed = build_seed(rows, chars(rows))
    assert (seed.seeded_rows, seed.omitted_rows) == (len(rows), 0)
    for index, item in enumerate(seed.items):  # mk_seed_{index:04}_{sha256 of the item without its id}
        payload = json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True)
        assert item["id"] == f"{SEED_PREFIX}{index:04}_{hashlib.sha256(payload.encode()).hexdigest()[:12]}"
    assert seed.items == history_to_realtime_items(rows) == build_seed(rows, None).items
    assert [item["type"] for item in seed.items] == ["message", "message", "message", "function_call",
                                                     "function_call_output", "message", "message", "message"]


def test_the_window_keeps_the_newest_whole_exchanges_after_a_notice() -> None:
    rows = [*exchange("remember the codeword amber lantern"), *tool_exchange("look it up"),
            *exchange("a"), *exchange("b")]
    last_two, tool = chars(rows[-4:]), chars(rows[-8:-4])
    seed = build_seed(rows, last_two + tool - 1)  # the tool exchange does not fit whole
    assert (seed.seeded_rows, seed.omitted_rows) == (4, 6)
    assert texts(seed.items) == [
        f"[mobkat] 6 earlier history rows are left out of this conversation: it was seeded with only the most "
        f"recent exchanges that fit in {last_two + tool - 1} characters.",
        "a", "You said: a", "b", "You said: b"]
    assert seed.items[0]["role"] == "system"
    whole = build_seed(rows, last_two + tool)  # the tool exchange whole (its call and result together), or none
    assert (whole.seeded_rows, texts(whole.items)[1]) == (8, "look it up")


def test_a_newest_exchange_larger_than_the_window_leaves_only_the_notice() -> None:
    rows = [*exchange("short"), *exchange("x" * 500)]
    seed = build_seed(rows, 100)
    assert (seed.seeded_rows, seed.omitted_rows, len(seed.items)) == (0, 4, 1)


def test_tail_rows_are_always_sent_and_not_counted() -> None:
    rows = exchange("old")
    seed = build_seed(rows, chars(rows), tail=exchange("y" * 1000))
    assert seed.seeded_rows == 2 and texts(seed.items)[-2:] == ["y" * 1000, "You said: " + "y" * 1000]


@pytest.mark.parametrize("window", [0, -5])
def test_a_window_must_be_positive(window: int) -> None:
    with pytest.raises(InvalidInputError, match="live seed window must be greater than zero"):
        build_seed(exchange("x"), window)


@settings(max_examples=80, deadline=None)
@given(sizes=st.lists(st.tuples(st.integers(1, 40), st.booleans()), min_size=1, max_size=12),
       window=st.integers(1, 200))
def test_the_window_is_the_longest_whole_exchange_suffix_that_fits(sizes: list[tuple[int, bool]], window: int) -> None:
    exchanges = [tool_exchange("t" * size) if tools else exchange("u" * size) for size, tools in sizes]
    rows = [row for block in exchanges for row in block]
    seed = build_seed(rows, window)
    kept = rows[seed.omitted_rows:]
    starts = [sum(len(block) for block in exchanges[:i]) for i in range(len(exchanges) + 1)]
    assert seed.omitted_rows in starts  # a window starts where an exchange starts
    assert chars(kept) <= window
    if seed.omitted_rows:  # one more exchange would not fit
        earlier = starts[starts.index(seed.omitted_rows) - 1]
        assert chars(rows[earlier:]) > window
        assert seed.items[0]["role"] == "system" and "left out" in seed.items[0]["content"][0]["text"]


# -- live channels -----------------------------------------------------------------------------------------
def seed_texts(simulator: Simulator, connection: int) -> list[str]:
    """The seed items a provider connection received, as the simulator echoed them."""
    out = []
    for raw in simulator.stats.server_frames[connection]:
        event = json.loads(raw)
        if event["type"] == "conversation.item.done" and event["item"]["id"].startswith(SEED_PREFIX):
            out.append(event["item"]["content"][0]["text"])
    return out


@pytest.fixture
def long_session(services: SessionServices) -> Session:
    """A realtime session: a codeword, then 20 filler exchanges of 28 characters each."""
    session = Session.create(services, model="gpt-realtime-2")
    session.commit(exchange("remember the codeword amber lantern", "Okay, I will remember: amber lantern."))
    for i in range(20):
        session.commit(exchange(f"filler {i:02}", f"You said: filler {i:02}"))
    return session


def test_a_windowed_open_is_degraded_and_forgets_what_it_left_out(long_session: Session, simulator: Simulator) -> None:
    handle = SessionHandle.start(long_session)
    try:
        channel_id, stream = open_channel(handle, seed_max_chars=200)
        opened = handle.live_status(channel_id)
        assert opened.status == "ready"
        connection = simulator.stats.connections_accepted
        reply = handle.run_turn("which codeword should you remember?")
        assert reply.text == "I have nothing to recall."
        seeded = seed_texts(simulator, connection)
        assert seeded[0].startswith("[mobkat] 28 earlier history rows are left out")  # 7 exchanges of 28 fit
        assert seeded[1:3] == ["filler 13", "You said: filler 13"] and len(seeded) == 1 + 14
        handle.live_close(channel_id)
        assert stream.seen()  # observations flowed
    finally:
        handle.stop()


def test_continuity_reports_the_window_and_an_unwindowed_open_remembers(long_session: Session) -> None:
    handle = SessionHandle.start(long_session)
    try:
        windowed = handle.live_open(seed_max_chars=200)
        assert (windowed.continuity.mode, windowed.continuity.seeded_messages) == ("degraded", 14)
        handle.live_close(windowed.channel_id)
        whole = handle.live_open(seed_max_chars=None)
        assert (whole.continuity.mode, whole.continuity.seeded_messages) == ("transcript_only", 42)
        assert handle.run_turn("which codeword should you remember?").text == "You asked me to remember: amber lantern."
        handle.live_close(whole.channel_id)
        assert chars(long_session.history()) < DEFAULT_SEED_MAX_CHARS  # the default window would keep all of it
    finally:
        handle.stop()


def test_a_zero_window_is_refused_before_a_channel_exists(long_session: Session) -> None:
    handle = SessionHandle.start(long_session)
    try:
        with pytest.raises(InvalidInputError, match="greater than zero"):
            handle.live_open(seed_max_chars=0)
        assert handle.live_channel_id() is None
    finally:
        handle.stop()


def test_a_reconnect_reseeds_under_the_same_window(long_session: Session, simulator: Simulator) -> None:
    handle = SessionHandle.start(long_session)
    try:
        channel_id, stream = open_channel(handle, seed_max_chars=200)
        handle.live_send_input(channel_id, TextChunk(text="one more"))
        stream.wait_for("turn_completed")
        simulator.drop_connections()
        stream.wait_for(lambda o: o.observation == "status_changed" and o.status.status == "degraded")
        stream.wait_for("ready")
        connection = simulator.stats.connections_accepted  # "ready" means sent: wait until the provider has them
        assert simulator.stats.wait_for(lambda stats: len(seed_texts(simulator, connection)) == 15, 10)
        reseeded = seed_texts(simulator, connection)
        assert reseeded[0].startswith("[mobkat] 30 earlier history rows are left out")
        assert reseeded[-2:] == ["one more", "You said: one more"] and len(reseeded) == 1 + 14
        handle.live_close(channel_id)
    finally:
        handle.stop()


def test_a_realtime_request_response_turn_seeds_under_the_default_window(services: SessionServices,
                                                                         simulator: Simulator) -> None:
    session = Session.create(services, model="gpt-realtime-2")
    session.commit(exchange("remember the codeword amber lantern", "Okay, I will remember: amber lantern."))
    filler = [row for i in range(30) for row in exchange(f"{i:02} " + "z" * 1000)]
    session.commit(filler)
    assert chars(session.history()) > DEFAULT_SEED_MAX_CHARS
    assert session.run_turn("which codeword should you remember?").text == "I have nothing to recall."
    seeded = seed_texts(simulator, simulator.stats.connections_accepted)
    assert seeded[0].startswith("[mobkat] 14 earlier history rows are left out")
    assert seeded[-1] == "which codeword should you remember?"  # the turn's own row, after the window
