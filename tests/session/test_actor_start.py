"""A session actor whose thread cannot start leaves nothing behind in pykka's registry."""

from __future__ import annotations

import threading

import pykka
import pytest

from mobkat.actor import SessionActor
from mobkat.session import Session, SessionServices


def test_an_actor_whose_thread_cannot_start_is_not_left_registered(
        services: SessionServices, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session.create(services, model="gpt-5.5")
    before = {ref.actor_urn for ref in pykka.ActorRegistry.get_all()}
    real_start = threading.Thread.start

    def refuse_actor_threads(thread: threading.Thread) -> None:
        if thread.name.startswith(SessionActor.__name__):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse_actor_threads)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        SessionActor.start(session)
    monkeypatch.undo()
    assert {ref.actor_urn for ref in pykka.ActorRegistry.get_all()} == before

    handle = SessionActor.start(session)  # threads again: the same session starts normally
    try:
        assert handle.is_alive()
    finally:
        handle.stop()
