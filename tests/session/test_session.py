"""Request/response sessions through the unmodified openai SDK against the simulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.config import MobkatConfig
from mobkat.errors import MissingApiKeyError, ProviderError, SessionBusyError, SessionNotFoundError
from mobkat.history import BlockAssistantRow, ToolResultsRow, UserRow
from mobkat.session import Session, SessionServices, ToolRegistry
from mobkat.session.events import SessionEvent
from mobkat.simulator import Simulator, ToolRule
from mobkat.store import MemorySessionStore, SqliteSessionStore
from tests.session.conftest import GatedTool


def test_text_turn_commits_user_and_assistant_rows(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5", instructions="Be brief.")
    assert session.idle
    events: list[SessionEvent] = []
    result = session.run_turn("hello there", on_event=events.append)
    assert result.text == "You said: hello there"
    assert result.turns == 1 and result.tool_calls == 0
    rows = session.history()
    assert [type(r) for r in rows] == [UserRow, BlockAssistantRow]
    assert rows[0].text == "hello there" and rows[1].text == "You said: hello there"
    assert not session.idle
    deltas = "".join(e.delta or "" for e in events if e.type == "text_delta")
    assert deltas == "You said: hello there"
    assert next(e.type for e in events) == "run_started" and events[-1].type == "run_completed"


def test_history_is_seen_by_later_turns(services: SessionServices) -> None:
    session = Session.create(services, model="claude-opus-4-7")
    session.run_turn("remember the codeword amber lantern")
    result = session.run_turn("what codeword did I ask you to remember?")
    assert result.text == "You asked me to remember: amber lantern."
    assert len(session.history()) == 4


def test_tool_loop_runs_registered_python_tool(services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"weather in (\w+)", tool="get_weather", arguments={"city": "{1}"}))
    tools = ToolRegistry()
    calls: list[str] = []

    @tools.register
    def get_weather(city: str) -> str:
        """Current weather for a city."""
        calls.append(city)
        return f"sunny in {city}"

    session = Session.create(services, model="gpt-5.5", tools=tools)
    result = session.run_turn("what is the weather in Oslo?")
    assert calls == ["Oslo"]
    assert result.tool_calls == 1 and result.turns == 2
    assert result.text == "Tool get_weather returned: sunny in Oslo"
    _user, call_row, results_row, final = session.history()
    assert isinstance(call_row, BlockAssistantRow) and call_row.stop_reason == "tool_use"
    assert call_row.tool_uses[0].data["name"] == "get_weather"
    assert call_row.tool_uses[0].data["args"] == {"city": "Oslo"}
    assert isinstance(results_row, ToolResultsRow) and results_row.results[0].content == "sunny in Oslo"
    assert isinstance(final, BlockAssistantRow) and final.stop_reason == "end_turn"
    chat_body = simulator.stats.chat_requests[0]
    assert chat_body["tools"][0]["function"]["name"] == "get_weather"


def test_failing_tool_becomes_an_error_result(services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"explode", tool="boom"))
    tools = ToolRegistry()

    @tools.register
    def boom() -> str:
        raise RuntimeError("kaput")

    session = Session.create(services, model="gpt-5.5", tools=tools)
    session.run_turn("please explode")
    results = next(r for r in session.history() if isinstance(r, ToolResultsRow)).results
    assert results[0].is_error and "kaput" in results[0].content


def test_realtime_only_model_runs_over_a_short_lived_realtime_connection(
    services: SessionServices, simulator: Simulator
) -> None:
    session = Session.create(services, model="gpt-realtime-2")
    session.run_turn("remember the codeword amber lantern")
    result = session.run_turn("which codeword should you remember?")
    assert result.text == "You asked me to remember: amber lantern."
    assert simulator.stats.connections_accepted == 2
    assert simulator.stats.chat_requests == []


def test_provider_failure_commits_nothing(tmp_path: Path) -> None:
    store = SqliteSessionStore(tmp_path / "s.db")
    with SessionServices(store=store, config=MobkatConfig(), simulator_base_url="http://127.0.0.1:9/v1") as svc:
        session = Session.create(svc, model="gpt-5.5")
        with pytest.raises(ProviderError, match=r"gpt-5\.5"):
            session.run_turn("hello")
        assert session.history() == []
        assert session.idle
    store.close()


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with SessionServices(store=MemorySessionStore(), config=MobkatConfig()) as svc:
        session = Session.create(svc, model="gpt-5.5")
        with pytest.raises(MissingApiKeyError, match="OPENAI_API_KEY"):
            session.run_turn("hello")
        assert session.history() == []


def test_openai_base_url_is_honoured(monkeypatch: pytest.MonkeyPatch, simulator: Simulator) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("OPENAI_BASE_URL", simulator.base_url)
    with SessionServices(store=MemorySessionStore(), config=MobkatConfig()) as svc:
        session = Session.create(svc, model="gpt-5.5")
        assert session.run_turn("ping").text == "You said: ping"
    assert len(simulator.stats.chat_requests) == 1


def test_concurrent_turn_on_one_session_is_refused(services: SessionServices, gated_tool: GatedTool) -> None:
    tools, entered, release = gated_tool.tools, gated_tool.entered, gated_tool.release
    session = Session.create(services, model="gpt-5.5", tools=tools)
    first = services.runtime.submit(session.run_turn_async("slow please"))
    assert entered.wait(10)
    with pytest.raises(SessionBusyError, match=session.id):
        session.run_turn("second")
    release.set()
    assert first.result(10).tool_calls == 1
    assert len(session.history()) == 4


def test_sessions_reload_from_the_store(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    session.run_turn("one")
    again = Session.load(services, session.id)
    assert again.model == "gpt-5.5" and again.provider == "openai"
    assert [r.text for r in again.history() if isinstance(r, UserRow)] == ["one"]
    with pytest.raises(SessionNotFoundError, match="nope"):
        Session.load(services, "nope")
