"""The server's session directory: an actor that fails to stop is reported; the others still stop."""

from __future__ import annotations

import logging

import pytest

from mobkat.actor import SessionHandle
from mobkat.rpc.realms import SessionDirectory
from mobkat.session import Session, SessionServices


def test_stop_all_reports_actors_that_failed_to_stop(services: SessionServices, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    directory = SessionDirectory(services)
    handles = [SessionHandle.start(Session.create(services, model="gpt-5.5")) for _ in range(3)]
    for handle in handles:
        directory.adopt(handle, handle.session_info()["session_id"])
    stuck = handles[1]
    stuck_id = stuck.session_info()["session_id"]
    real_stop = SessionHandle.stop

    def stop(self: SessionHandle, timeout: float = 30.0) -> None:
        if self is stuck:
            raise TimeoutError("actor busy")
        real_stop(self, timeout)

    monkeypatch.setattr(SessionHandle, "stop", stop)
    caplog.set_level(logging.WARNING, logger="mobkat.session.services")
    assert directory.stop_all(timeout=5) == [stuck_id]
    assert not handles[0].ref.is_alive() and not handles[2].ref.is_alive()  # stopping went on for the others
    assert list(services.stop_failures) == [f"session {stuck_id}: actor stop: TimeoutError: actor busy"]
    assert f"session {stuck_id}: actor stop" in caplog.text
    monkeypatch.undo()
    stuck.stop()
