"""No API key appears in logs, events, errors or stored history."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mobkat.actor import SessionHandle
from mobkat.config import MobkatConfig
from mobkat.errors import MobkatError
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import TextChunk
from mobkat.mob import Mob, MobDefinition
from mobkat.providers.endpoints import EndpointResolver
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore

SECRET = "sk-test-SECRET-do-not-leak-0123456789"


def test_the_key_never_leaves_the_http_header(monkeypatch: pytest.MonkeyPatch, simulator: Simulator,
                                              tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", simulator.base_url)
    store = SqliteSessionStore(tmp_path / "s.db")
    seen: list[str] = []
    with SessionServices(store=store, config=MobkatConfig()) as services:
        assert SECRET not in repr(EndpointResolver(services.config).resolve("openai"))
        session = Session.create(services, model="gpt-realtime-2")
        handle = SessionHandle.start(session)
        try:
            handle.run_turn("hello")
            stream = ObservationStream()
            channel_id = handle.live_open(observer=stream).channel_id
            handle.live_send_input(channel_id, TextChunk(text="hi again"))
            stream.wait_for("turn_completed")
            seen += [o.model_dump_json() for o in stream.seen()]
            for bad in (lambda: handle.live_open(), lambda: handle.live_truncate(channel_id, "nope", 0, 10)):
                with pytest.raises(MobkatError) as err:
                    bad()
                seen.append(str(err.value) + repr(err.value.details))
            handle.live_close(channel_id)
        finally:
            handle.stop()
    store.close()
    definition = MobDefinition.from_dict({"id": "m", "profiles": {"a": {"model": "gpt-5.5"}}})
    with Mob(definition, simulator=False) as mob:
        mob.spawn("a")
        mob.wait_idle(10)
        seen += [e.model_dump_json() for e in mob.events_log.after(0)]
    assert simulator.stats.chat_requests  # the key was really used against the simulator
    everything = "\n".join([*seen, caplog.text, (tmp_path / "s.db").read_bytes().decode("latin-1")])
    for wal in tmp_path.glob("s.db*"):
        everything += wal.read_bytes().decode("latin-1")
    assert SECRET not in everything


def test_a_missing_key_error_names_the_variable_not_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    resolver = EndpointResolver(MobkatConfig())
    with pytest.raises(MobkatError, match="ANTHROPIC_API_KEY") as err:
        resolver.resolve("anthropic")
    assert err.value.details == {"provider": "anthropic", "env": "ANTHROPIC_API_KEY"}
