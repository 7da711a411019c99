"""Fixtures for live-channel tests: a session actor on a realtime model that has run one turn."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from mobkat.actor import SessionHandle
from mobkat.audio import encode_speech, silence
from mobkat.live.channel import ReconnectPolicy
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import AudioChunk
from mobkat.session import Session, SessionServices, ToolRegistry


@pytest.fixture
def tools() -> ToolRegistry:
    return ToolRegistry()


@pytest.fixture
def live_session(services: SessionServices, tools: ToolRegistry) -> Iterator[SessionHandle]:
    """A gpt-realtime-2 session that has committed one text turn (so it is not idle)."""
    session = Session.create(services, model="gpt-realtime-2", instructions="Answer briefly.", tools=tools)
    handle = SessionHandle.start(session, reconnect=ReconnectPolicy(attempts=4, initial_delay_s=0.02),
                                 truncate_grace_s=0.5, tool_timeout_s=2.0)
    handle.run_turn("hello")
    yield handle
    handle.stop()


def speech_chunks(text: str, chunk_ms: int = 100, tail_ms: int = 700) -> list[AudioChunk]:
    """``text`` spoken with the simulator's codec, then silence, cut into base64 chunks."""
    pcm = encode_speech(text) + silence(tail_ms)
    step = 48 * chunk_ms
    return [AudioChunk(data=base64.b64encode(pcm[i:i + step]).decode()) for i in range(0, len(pcm), step)]


def speak(handle: SessionHandle, channel_id: str, text: str) -> None:
    for chunk in speech_chunks(text):
        handle.live_send_input(channel_id, chunk)


def open_channel(handle: SessionHandle, **kwargs: object) -> tuple[str, ObservationStream]:
    stream = ObservationStream()
    result = handle.live_open(observer=stream, **kwargs)
    return result.channel_id, stream
