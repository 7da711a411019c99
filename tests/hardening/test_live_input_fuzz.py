"""Fuzzing live input: any chunk is either accepted or a typed error, and the channel keeps serving."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobkat.actor import SessionHandle
from mobkat.errors import LiveInputRejectedError
from mobkat.live.inputs import decode_audio, parse_chunk
from mobkat.live.wire import AudioChunk, TextChunk
from mobkat.session import Session, SessionServices
from tests.live.conftest import open_channel

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children,
                                                                                      max_size=4), max_leaves=12)
CHUNKS = st.one_of(
    JSON,
    st.fixed_dictionaries({"kind": st.sampled_from(["audio", "text", "image", "video_frame", "smell"])},
                          optional={"data": st.text(max_size=40) | st.binary(max_size=40).map(
                              lambda b: base64.b64encode(b).decode()),
                              "text": st.text(max_size=40), "sample_rate_hz": st.integers(-10, 100_000),
                              "channels": st.integers(-2, 8), "mime": st.text(max_size=10)}),
)


@settings(max_examples=300, deadline=None)
@given(CHUNKS)
def test_any_wire_chunk_parses_or_is_a_typed_rejection(raw: Any) -> None:
    try:
        chunk = parse_chunk(raw, "live channel X")
    except LiveInputRejectedError as exc:
        assert exc.reason["kind"] and exc.message.startswith("live channel X")
        return
    if isinstance(chunk, AudioChunk):
        try:
            pcm = decode_audio(chunk, "live channel X")
        except LiveInputRejectedError as exc:
            assert exc.reason["kind"].startswith(("audio_input", "input_too_large"))
        else:
            assert len(pcm) % 2 == 0 and pcm


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=64).map(lambda b: AudioChunk(data=base64.b64encode(b).decode())),
    st.binary(min_size=2, max_size=64).map(lambda b: AudioChunk(data=base64.b64encode(b).decode(),
                                                                  sample_rate_hz=16000)),
    st.text(max_size=20).map(lambda t: AudioChunk(data=t)),
), min_size=1, max_size=6))
def test_bad_audio_never_breaks_an_open_channel(services: SessionServices, chunks: list[AudioChunk]) -> None:
    session = Session.create(services, model="gpt-realtime-2")
    handle = SessionHandle.start(session)
    try:
        handle.run_turn("hello")
        committed = handle.history()
        channel_id, stream = open_channel(handle, turning_mode="explicit_commit")
        for chunk in chunks:
            try:
                handle.live_send_input(channel_id, chunk)
            except LiveInputRejectedError as exc:
                assert exc.reason["kind"]
        assert handle.live_status(channel_id).status == "ready"
        assert handle.history() == committed  # nothing committed was touched
        handle.live_send_input(channel_id, TextChunk(text="still serving?"))
        handle.live_commit_input(channel_id, "text")
        assert stream.wait_for("turn_completed").committed_messages >= 2
    finally:
        handle.stop()
