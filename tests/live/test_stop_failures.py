"""A live channel that fails to close is logged and recorded, never silently dropped."""

from __future__ import annotations

import logging

import pytest

from mobkat.actor import SessionHandle
from mobkat.live.channel import LiveChannel
from mobkat.session import SessionServices
from tests.live.conftest import open_channel


def test_a_channel_that_fails_to_close_on_stop_is_logged_and_recorded(
        live_session: SessionHandle, services: SessionServices, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    channel_id, _stream = open_channel(live_session)
    session_id = live_session.session_info()["session_id"]

    async def stuck(self: LiveChannel) -> None:
        raise RuntimeError("provider socket stuck")

    monkeypatch.setattr(LiveChannel, "close", stuck)
    caplog.set_level(logging.WARNING, logger="mobkat.session.services")
    live_session.stop()
    failure = f"live channel {channel_id} (session {session_id}): close: RuntimeError: provider socket stuck"
    assert list(services.stop_failures) == [failure]
    assert f"failed to stop {failure}" in caplog.text
