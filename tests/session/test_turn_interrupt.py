"""``SessionHandle.interrupt_turn``: a turn cancelled mid-way (here inside a tool call) commits nothing."""

from __future__ import annotations

import concurrent.futures

import pytest

from mobkat.actor import SessionHandle
from mobkat.session import Session, SessionServices
from tests.session.conftest import GatedTool


def test_a_turn_interrupted_inside_a_tool_call_commits_nothing_and_the_session_runs_again(
        services: SessionServices, gated_tool: GatedTool) -> None:
    tools, entered, release = gated_tool.tools, gated_tool.entered, gated_tool.release
    session = Session.create(services, model="gpt-5.5", tools=tools)
    handle = SessionHandle.start(session)
    try:
        assert handle.interrupt_turn() is False  # nothing running
        handle.run_turn("hello")
        future: concurrent.futures.Future[object] = handle.ref.proxy().start_turn("slow please").get(timeout=10)
        assert entered.wait(10)  # the model asked for the tool: the turn has staged rows, none committed
        assert handle.interrupt_turn() is True
        assert future.cancelled() and not session.running  # it has unwound before interrupt_turn returned
        with pytest.raises(concurrent.futures.CancelledError):
            future.result(0)
        assert [r.role for r in handle.history()] == ["user", "block_assistant"]
        assert services.store.message_count(session.id) == 2 and session.meta.turn_count == 1
        assert handle.run_turn("hi again").text == "You said: hi again"
        assert [r.role for r in handle.history()][2:] == ["user", "block_assistant"]
    finally:
        release.set()  # the tool's thread finishes on its own; its result goes nowhere
        handle.stop()
