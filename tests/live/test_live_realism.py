"""Live channels against a simulator that behaves like the real service: late or failed input transcripts,
uneven speech timing, deltas still in flight after a cancel."""

from __future__ import annotations

import base64
import json

import pytest

from mobkat.actor import SessionHandle
from mobkat.audio import bytes_for_ms, decode_speech
from mobkat.history import BlockAssistantRow, UserRow
from mobkat.live import channel as live_channel
from mobkat.live.staging import UNTRANSCRIBED
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import AssistantAudioChunk, AssistantTranscriptDelta, TextChunk
from mobkat.simulator import Simulator, Speech, Transcription
from tests.live.conftest import open_channel, speak

PHRASE = "remember the codeword amber lantern"
REPLY = "Okay, I will remember: amber lantern."
STORY = "please tell me a long story about a lighthouse keeper and the sea"


def _tags(stream: ObservationStream) -> list[str]:
    return [o.observation for o in stream.seen()]


def _frame_types(simulator: Simulator) -> list[str]:
    return [json.loads(raw)["type"] for raw in simulator.stats.all_server_frames()]


def test_a_transcript_arriving_after_the_response_is_waited_for_and_lands_in_place(
        live_session: SessionHandle, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_channel, "TRANSCRIPT_WAIT_S", 30.0)  # the turn must end on arrival, not time out
    simulator.script.transcription = Transcription(late_s=0.3)
    channel_id, stream = open_channel(live_session)
    speak(live_session, channel_id, PHRASE)
    assert stream.wait_for("assistant_transcript_final").text == REPLY
    assert stream.wait_for("user_transcript_final", timeout=10).text == PHRASE
    assert stream.wait_for("turn_completed", timeout=10).committed_messages == 2
    tags = _tags(stream)
    assert tags.index("assistant_transcript_final") < tags.index("user_transcript_final") < tags.index(
        "turn_completed")
    frames = _frame_types(simulator)
    assert frames.index("response.done") < frames.index("conversation.item.input_audio_transcription.completed")
    user, assistant = live_session.history()[-2:]
    assert isinstance(user, UserRow) and user.text == PHRASE  # in its place, before the reply
    assert isinstance(assistant, BlockAssistantRow) and assistant.text == REPLY


@pytest.mark.parametrize("late_s", [None, 0.2], ids=["at-once", "late"])
def test_a_failed_transcription_commits_a_placeholder_without_waiting(
        live_session: SessionHandle, simulator: Simulator, monkeypatch: pytest.MonkeyPatch,
        late_s: float | None) -> None:
    monkeypatch.setattr(live_channel, "TRANSCRIPT_WAIT_S", 30.0)
    simulator.script.transcription = Transcription(late_s=late_s, fail=True)
    channel_id, stream = open_channel(live_session)
    speak(live_session, channel_id, PHRASE)
    assert stream.wait_for("user_transcript_final", timeout=10).text == UNTRANSCRIBED
    assert stream.wait_for("turn_completed", timeout=10).committed_messages == 2
    assert "conversation.item.input_audio_transcription.failed" in _frame_types(simulator)
    user, assistant = live_session.history()[-2:]
    assert isinstance(user, UserRow) and user.text == UNTRANSCRIBED
    assert assistant.text == REPLY  # the model heard the audio; only its transcript failed


def test_a_transcript_later_than_the_wait_is_reported_but_never_staged_again(
        live_session: SessionHandle, simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_channel, "TRANSCRIPT_WAIT_S", 0.1)
    simulator.script.transcription = Transcription(late_s=1.0)
    channel_id, stream = open_channel(live_session)
    speak(live_session, channel_id, PHRASE)
    assert stream.wait_for("turn_completed", timeout=10).committed_messages == 2
    committed = live_session.history()
    assert [r.text for r in committed[-2:]] == [UNTRANSCRIBED, REPLY]
    assert stream.wait_for("user_transcript_final", timeout=10).text == PHRASE  # the caller still hears it
    live_session.live_send_input(channel_id, TextChunk(text="and then?"))
    assert stream.wait_for("turn_completed", timeout=10).committed_messages == 2
    assert [r.text for r in live_session.history()[len(committed):]] == ["and then?", "You said: and then?"]


def _interrupt_after(handle: SessionHandle, channel_id: str, stream: ObservationStream,
                     chunks: int) -> AssistantAudioChunk:
    first = stream.wait_for("assistant_audio_chunk")
    assert isinstance(first, AssistantAudioChunk)
    for _ in range(chunks - 1):
        stream.wait_for("assistant_audio_chunk")
    assert handle.live_interrupt(channel_id) == first.response_id
    return first


def _heard_in(pcm: bytes, played_ms: int, full: str) -> str:
    """What a listener heard in the first ``played_ms`` of ``pcm``, cut back to whole words of ``full``."""
    said = decode_speech(pcm[:bytes_for_ms(played_ms)]) or ""
    assert full.startswith(said)
    if len(said) < len(full) and not full[len(said)].isspace():
        said = said[:max(said.rfind(" "), 0)]
    return said.rstrip()


@pytest.mark.parametrize(("gaps", "chunks", "played_ms", "expected"), [
    ([600], 9, 800, "You said:"),  # slow start: a cut proportional to the audio says "You"
    ([800, 20], 11, 800, "You"),  # fast words after a long pause: a proportional cut says "You said:"
], ids=["late-words", "early-pause"])
def test_truncate_keeps_what_was_heard_when_speech_timing_is_uneven(
        live_session: SessionHandle, simulator: Simulator, gaps: list[int], chunks: int, played_ms: int,
        expected: str) -> None:
    simulator.script.speech = Speech(word_gaps_ms=gaps)
    simulator.set_pace(0.5)
    channel_id, stream = open_channel(live_session)
    live_session.live_send_input(channel_id, TextChunk(text=STORY))
    first = _interrupt_after(live_session, channel_id, stream, chunks)
    heard = live_session.live_truncate(channel_id, first.item_id, 0, played_ms)
    stream.wait_for("turn_completed")
    audio = b"".join(base64.b64decode(o.data) for o in stream.seen()
                     if isinstance(o, AssistantAudioChunk) and o.item_id == first.item_id)
    assert heard == _heard_in(audio, played_ms, f"You said: {STORY}") == expected
    assistant = live_session.history()[-1]
    assert isinstance(assistant, BlockAssistantRow) and assistant.text == expected


@pytest.mark.parametrize(("played_ms", "expected"), [(140, "You"), (200, "You said:")])
def test_truncate_waits_for_a_transcript_that_lags_the_audio(
        live_session: SessionHandle, simulator: Simulator, played_ms: int, expected: str) -> None:
    """Under load the caller can interrupt between an audio chunk and the transcript delta that says what was
    in it (here every server event comes 0.15 s late): the delta arrives after the interrupt, and the heard
    text must still be cut where the words are, not at the end of the transcript received so far."""
    channel_id, stream = open_channel(live_session)
    simulator.delay_events(0.15)  # 0.15 s between an audio chunk and its transcript delta: time to interrupt
    live_session.live_send_input(channel_id, TextChunk(text=STORY))
    first = _interrupt_after(live_session, channel_id, stream, 2)
    simulator.delay_events(0)  # the delta in flight still comes after the interrupt; the rest at once
    heard = live_session.live_truncate(channel_id, first.item_id, 0, played_ms)
    done = stream.wait_for("turn_completed", timeout=20)
    assert done.stop_reason == "cancelled"
    seen = stream.seen()
    tags = [o.observation for o in seen]
    lagging = "".join(o.delta for o in seen[:tags.index("turn_interrupted")]
                      if isinstance(o, AssistantTranscriptDelta) and o.response_id == first.response_id)
    assert lagging == "You s"  # the transcript of the second chunk had not arrived: it ends mid-word
    audio = b"".join(base64.b64decode(o.data) for o in seen
                     if isinstance(o, AssistantAudioChunk) and o.item_id == first.item_id)
    assert len(audio) == bytes_for_ms(200)
    assert heard == _heard_in(audio, played_ms, f"You said: {STORY}") == expected
    truncated = next(o for o in seen if o.observation == "assistant_transcript_truncated")
    assert truncated.text == heard
    assistant = live_session.history()[-1]
    assert isinstance(assistant, BlockAssistantRow) and assistant.text == expected


def test_interrupt_without_truncate_keeps_the_unspoken_rest_out_and_reports_once(
        live_session: SessionHandle, simulator: Simulator) -> None:
    simulator.script.speech = Speech(cancel_lag_chunks=3)  # deltas still in flight after response.cancel
    simulator.set_pace(0.5)
    channel_id, stream = open_channel(live_session)
    live_session.live_send_input(channel_id, TextChunk(text=STORY))
    first = _interrupt_after(live_session, channel_id, stream, 2)
    done = stream.wait_for("turn_completed")
    assert done.stop_reason == "cancelled"
    seen = stream.seen()
    tags = [o.observation for o in seen]
    assert tags.count("turn_interrupted") == 1
    said = "".join(o.delta for o in seen[:tags.index("turn_interrupted")]
                   if isinstance(o, AssistantTranscriptDelta) and o.response_id == first.response_id)
    sent = [json.loads(raw) for raw in simulator.stats.all_server_frames()]
    spoken_deltas = [f["delta"] for f in sent if f["type"] == "response.output_audio_transcript.delta"
                     and f["response_id"] == first.response_id]
    assert len("".join(spoken_deltas)) > len(said)  # the provider kept talking after the interrupt...
    assistant = live_session.history()[-1]
    assert isinstance(assistant, BlockAssistantRow) and assistant.stop_reason == "cancelled"
    assert assistant.text == said.rstrip()  # ...but history keeps only what came before it
    assert f"You said: {STORY}".startswith(assistant.text) and len(assistant.text) < len(STORY)
