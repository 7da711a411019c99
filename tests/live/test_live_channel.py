"""Live channels against the simulator, through the unmodified openai SDK realtime client."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid

import pytest

from mobkat.actor import SessionHandle
from mobkat.config import MobkatConfig
from mobkat.errors import (
    ChannelAlreadyBoundError,
    ChannelNotFoundError,
    ChannelNotReadyError,
    LiveError,
    LiveInputRejectedError,
    LiveProviderError,
    ModelNotRealtimeError,
    SessionIdleError,
)
from mobkat.history import BlockAssistantRow, ToolResultsRow, UserRow
from mobkat.live.wire import AudioChunk, TextChunk
from mobkat.session import Session, SessionServices, ToolRegistry
from mobkat.session.session import notice
from mobkat.simulator import Simulator, ToolRule
from mobkat.store import MemorySessionStore
from tests.live.conftest import open_channel, speak


def test_open_on_non_realtime_model_is_refused(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    session.run_turn("hi")
    handle = SessionHandle.start(session)
    try:
        with pytest.raises(ModelNotRealtimeError) as err:
            handle.live_open()
        assert session.id in err.value.message and "gpt-5.5" in err.value.message
        assert "gpt-realtime-2" in err.value.message  # the remedy
    finally:
        handle.stop()


def test_open_on_idle_session_is_refused(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-realtime-2")
    handle = SessionHandle.start(session)
    try:
        with pytest.raises(SessionIdleError, match="start a turn or spawn the member first") as err:
            handle.live_open()
        assert session.id in err.value.message
    finally:
        handle.stop()


def test_second_channel_is_refused_and_close_frees_the_session(live_session: SessionHandle) -> None:
    channel_id, _stream = open_channel(live_session)
    result_status = live_session.live_status(channel_id)
    assert result_status.status == "ready"
    with pytest.raises(ChannelAlreadyBoundError, match=channel_id):
        live_session.live_open()
    assert live_session.live_close(channel_id).status == "closed"
    assert live_session.live_status(channel_id).status == "closed"  # a closed channel stays readable
    with pytest.raises(ChannelNotReadyError, match="closed"):
        live_session.live_send_input(channel_id, TextChunk(text="hello?"))
    second, _ = open_channel(live_session)
    assert second != channel_id and uuid.UUID(second).version == 4
    with pytest.raises(ChannelNotFoundError, match="not found"):
        live_session.live_status(str(uuid.uuid4()))


def test_open_result_carries_catalog_capabilities_and_continuity(live_session: SessionHandle) -> None:
    result = live_session.live_open()
    caps = result.capabilities
    assert caps.audio_in and caps.audio_out and caps.transcript_supported and caps.barge_in_supported
    assert not caps.video_in and not caps.provider_native_resume
    assert result.continuity.mode == "transcript_only" and result.continuity.seeded_messages == 2
    assert result.turning_mode == "provider_managed"


def test_bad_audio_is_a_typed_error_and_the_channel_survives(live_session: SessionHandle) -> None:
    channel_id, stream = open_channel(live_session)
    with pytest.raises(LiveInputRejectedError, match="base64") as bad_b64:
        live_session.live_send_input(channel_id, AudioChunk(data="%%%not base64%%%"))
    assert bad_b64.value.reason["kind"] == "audio_input_invalid_base64"
    pcm = base64.b64encode(b"\x00\x01" * 100).decode()
    with pytest.raises(LiveInputRejectedError, match="16000 Hz") as bad_rate:
        live_session.live_send_input(channel_id, AudioChunk(data=pcm, sample_rate_hz=16000))
    assert bad_rate.value.reason["kind"] == "audio_input_format_mismatch"
    with pytest.raises(LiveInputRejectedError, match="odd byte count"):
        live_session.live_send_input(channel_id, AudioChunk(data=base64.b64encode(b"\x00\x01\x02").decode()))
    with pytest.raises(LiveInputRejectedError, match="invalid input chunk"):
        live_session.live_send_input(channel_id, {"kind": "smell", "data": "x"})
    assert live_session.live_status(channel_id).status == "ready"
    live_session.live_send_input(channel_id, TextChunk(text="still there?"))
    assert stream.wait_for("turn_completed").stop_reason == "end_turn"


def test_spoken_turn_commits_transcripts_and_later_turns_see_them(live_session: SessionHandle) -> None:
    channel_id, stream = open_channel(live_session)
    speak(live_session, channel_id, "remember the codeword amber lantern")
    heard = stream.wait_for("user_transcript_final")
    assert heard.text == "remember the codeword amber lantern"
    audio = stream.wait_for("assistant_audio_chunk")
    assert audio.item_id and audio.content_index == 0 and base64.b64decode(audio.data)
    final = stream.wait_for("assistant_transcript_final")
    assert final.text == "Okay, I will remember: amber lantern."
    done = stream.wait_for("turn_completed")
    assert done.committed_messages == 2
    live_session.live_close(channel_id)
    rows = live_session.history()
    user, assistant = rows[-2:]
    assert isinstance(user, UserRow) and user.text == "remember the codeword amber lantern"
    assert isinstance(assistant, BlockAssistantRow)
    assert [b.block_type for b in assistant.blocks] == ["transcript"]
    assert assistant.blocks[0].data == {"text": "Okay, I will remember: amber lantern.", "source": {"kind": "spoken"}}
    later = live_session.run_turn("what codeword did I ask you to remember?")
    assert later.text == "You asked me to remember: amber lantern."


def test_text_turn_goes_through_an_open_channel(live_session: SessionHandle, simulator: Simulator) -> None:
    _channel_id, _stream = open_channel(live_session)
    connections = simulator.stats.connections_accepted
    result = live_session.run_turn("remember the codeword fig")
    assert result.text == "Okay, I will remember: fig."
    assert simulator.stats.connections_accepted == connections  # no second connection
    rows = live_session.history()
    assert isinstance(rows[-1], BlockAssistantRow) and rows[-1].blocks[0].block_type == "text"


def test_barge_in_keeps_only_what_was_heard(live_session: SessionHandle, simulator: Simulator) -> None:
    simulator.set_pace(1.0)  # audio arrives in real time, so the response can be interrupted mid-way
    channel_id, stream = open_channel(live_session)
    sentence = "please tell me a long story about a lighthouse keeper and the sea"
    live_session.live_send_input(channel_id, TextChunk(text=sentence))
    chunk = stream.wait_for("assistant_audio_chunk")
    stream.wait_for("assistant_audio_chunk")
    assert live_session.live_interrupt(channel_id) == chunk.response_id
    heard = live_session.live_truncate(channel_id, chunk.item_id, 0, 150)  # the client played 150 ms
    assert stream.wait_for("turn_interrupted").response_id == chunk.response_id
    done = stream.wait_for("turn_completed")
    assert done.stop_reason == "cancelled"
    truncated = next(o for o in stream.seen() if o.observation == "assistant_transcript_truncated")
    assert truncated.audio_end_ms == 150 and truncated.text == heard
    full = f"You said: {sentence}"
    assistant = live_session.history()[-1]
    assert isinstance(assistant, BlockAssistantRow) and assistant.stop_reason == "cancelled"
    spoken = assistant.blocks[0].data["text"]
    assert spoken == heard == "You" and full.startswith(spoken)  # 150 ms = 7 characters, cut to a word
    assert "response.cancel" in simulator.stats.client_event_types()


def test_interrupt_before_any_audio_leaves_no_assistant_row(live_session: SessionHandle,
                                                          simulator: Simulator) -> None:
    channel_id, stream = open_channel(live_session)
    before = len(live_session.history())
    simulator.delay_events(0.2)
    live_session.live_send_input(channel_id, TextChunk(text="say something long"))
    live_session.live_interrupt(channel_id)
    stream.wait_for("turn_interrupted")
    done = stream.wait_for("turn_completed")
    assert done.stop_reason == "cancelled" and done.committed_messages == 1
    assert not [o for o in stream.seen() if o.observation == "assistant_audio_chunk"]
    rows = live_session.history()[before:]
    assert len(rows) == 1 and isinstance(rows[0], UserRow)


def test_turn_started_in_the_barge_in_grace_window_gets_its_own_result(live_session: SessionHandle,
                                                                      simulator: Simulator) -> None:
    simulator.set_pace(1.0)
    channel_id, stream = open_channel(live_session)
    live_session.live_send_input(channel_id, TextChunk(text="tell me a long story about the sea"))
    stream.wait_for("assistant_audio_chunk")
    live_session.live_interrupt(channel_id)
    simulator.set_pace(0)
    result = live_session.run_turn("remember the codeword fig")  # inside the truncate grace window
    assert result.text == "Okay, I will remember: fig."
    history = live_session.history()
    start = [r.text for r in history].index("tell me a long story about the sea")
    cut, mine = history[start + 1:-2], history[-2:]
    # the cut turn committed before mine: its user row, then what was heard of the reply — a cancelled
    # assistant row, or none when the barge-in came before any transcript text arrived (a loaded machine)
    assert len(cut) <= 1 and all(isinstance(r, BlockAssistantRow) and r.stop_reason == "cancelled" for r in cut)
    assert [r.text for r in mine] == ["remember the codeword fig", "Okay, I will remember: fig."]


def test_refresh_applies_in_place_and_model_swap_is_refused(live_session: SessionHandle,
                                                            simulator: Simulator) -> None:
    channel_id, _ = open_channel(live_session)
    connections = simulator.stats.connections_accepted
    live_session.set_instructions("Speak like a pirate.")
    live_session.live_refresh(channel_id)
    assert simulator.stats.wait_for(
        lambda s: s.client_event_types(connections).count("session.update") == 2, timeout=5)
    assert simulator.stats.connections_accepted == connections
    live_session.set_model("gpt-5.5")
    with pytest.raises(LiveError, match=r"live/close \+ live/open"):
        live_session.live_refresh(channel_id)
    assert live_session.live_status(channel_id).status == "ready"


def test_explicit_commit_mode(live_session: SessionHandle) -> None:
    channel_id, stream = open_channel(live_session, turning_mode="explicit_commit")
    with pytest.raises(LiveError, match="requires staged input"):
        live_session.live_commit_input(channel_id)
    speak(live_session, channel_id, "remember the codeword kiwi")
    live_session.live_send_input(channel_id, TextChunk(text="and say it back"))
    live_session.live_commit_input(channel_id, "text")
    assert stream.wait_for("user_transcript_final").text == "remember the codeword kiwi"
    assert stream.wait_for("turn_completed").committed_messages == 3
    assistant = live_session.history()[-1]
    assert isinstance(assistant, BlockAssistantRow) and assistant.blocks[0].block_type == "text"


def test_commit_input_is_refused_in_provider_managed_mode(live_session: SessionHandle) -> None:
    channel_id, _ = open_channel(live_session)
    with pytest.raises(LiveError, match="explicit_commit"):
        live_session.live_commit_input(channel_id)


def test_tools_run_during_a_live_turn(services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"time in (\w+)", tool="clock", arguments={"city": "{1}"}))
    simulator.add_tool_rule(ToolRule(pattern=r"hang", tool="hang"))
    release = threading.Event()
    tools = ToolRegistry()

    @tools.register
    def clock(city: str) -> str:
        """The time in a city."""
        return f"noon in {city}"

    @tools.register
    def hang() -> str:
        release.wait(10)
        return "late"

    session = Session.create(services, model="gpt-realtime-2", tools=tools)
    handle = SessionHandle.start(session, tool_timeout_s=0.3)
    try:
        handle.run_turn("hi")
        channel_id, stream = open_channel(handle)
        speak(handle, channel_id, "what is the time in Paris")
        call = stream.wait_for("tool_call_requested")
        assert call.tool_name == "clock" and call.arguments == {"city": "Paris"}
        assert stream.wait_for("turn_completed").stop_reason == "end_turn"
        user, call_row, results_row, final = handle.history()[-4:]
        assert isinstance(user, UserRow) and user.text == "what is the time in Paris"
        assert isinstance(call_row, BlockAssistantRow) and call_row.stop_reason == "tool_use"
        assert call_row.tool_uses[0].data == {"id": call.provider_call_id, "name": "clock", "args": {"city": "Paris"}}
        assert isinstance(results_row, ToolResultsRow) and results_row.results[0].content == "noon in Paris"
        assert isinstance(final, BlockAssistantRow) and final.text == "Tool clock returned: noon in Paris"
        handle.live_send_input(channel_id, TextChunk(text="hang please"))
        assert stream.wait_for("turn_completed").stop_reason == "end_turn"
        assert "timed out" in handle.history()[-1].text
    finally:
        release.set()
        handle.stop()


def test_socket_drop_reconnects_reseeds_and_keeps_history_exact(live_session: SessionHandle,
                                                                simulator: Simulator) -> None:
    channel_id, stream = open_channel(live_session)
    live_session.live_send_input(channel_id, TextChunk(text="remember the codeword amber lantern"))
    stream.wait_for("turn_completed")
    committed = live_session.history()
    connections = simulator.stats.connections_accepted
    simulator.drop_connections_after(4)
    live_session.live_send_input(channel_id, TextChunk(text="this reply will be cut off"))
    degraded = stream.wait_for(lambda o: o.observation == "status_changed" and o.status.status == "degraded")
    assert degraded.status.reason is not None and degraded.status.reason.kind == "network_unstable"
    stream.wait_for("ready")
    assert simulator.stats.connections_accepted == connections + 1
    assert live_session.history() == committed  # the cut-off turn was never acknowledged, nothing duplicated
    live_session.live_send_input(channel_id, TextChunk(text="what codeword did I ask you to remember?"))
    stream.wait_for("turn_completed")
    assert live_session.history()[-1].text == "You asked me to remember: amber lantern."
    assert len(live_session.history()) == len(committed) + 2


def test_unrecoverable_drop_closes_with_a_typed_error(live_session: SessionHandle, simulator: Simulator) -> None:
    channel_id, stream = open_channel(live_session)
    before = live_session.history()
    simulator.drop_connections_after(1, once=False)
    try:
        live_session.live_send_input(channel_id, TextChunk(text="hello"))
    except LiveProviderError as refused:  # on a busy machine the drop can come first: the send is refused
        assert refused.details["kind"] == "input_not_delivered"
    error = stream.wait_for("error", timeout=20)
    assert error.code.code == "connection_lost" and "open a new channel" in error.message
    assert live_session.live_status(channel_id).status == "closed"
    assert live_session.history() == before


def test_no_threads_or_tasks_outlive_the_actor(simulator: Simulator, no_thread_leaks: None) -> None:
    services = SessionServices(store=MemorySessionStore(), config=MobkatConfig(),
                               simulator_base_url=simulator.base_url).start()
    session = Session.create(services, model="gpt-realtime-2")
    handle = SessionHandle.start(session)
    handle.run_turn("hello")
    channel_id, stream = open_channel(handle)
    handle.live_send_input(channel_id, TextChunk(text="hi"))
    stream.wait_for("turn_completed")
    handle.stop()
    assert not handle.ref.is_alive()
    assert services.runtime.run(_other_tasks()) == []  # no task of the channel is left on the I/O loop
    services.close()
    assert not services.runtime.running


async def _other_tasks() -> list[str]:
    me = asyncio.current_task()
    return [repr(t) for t in asyncio.all_tasks() if t is not me and not t.done()]


def test_a_row_injected_while_the_member_speaks_is_answered_after_it(live_session: SessionHandle,
                                                                      simulator: Simulator) -> None:
    """A peer notice arriving mid-response gets its own response once the running one ends (the provider
    refuses a second ``response.create`` while one is active, so asking at once lost it)."""
    simulator.set_pace(1.0)  # the first answer is still being spoken when the notice comes in
    channel_id, stream = open_channel(live_session)
    live_session.live_send_input(channel_id, TextChunk(text="tell me about the harbour"))
    first = stream.wait_for("assistant_audio_chunk")
    assert live_session.live_inject(notice("Peer message from cook:\nsoup is ready"), True)
    answers = [stream.wait_for("turn_completed", timeout=20) for _ in range(2)]
    assert answers[0].response_id == first.response_id and answers[1].response_id != first.response_id
    assert not any(o.observation == "command_rejected" for o in stream.seen())
    texts = [row.text for row in live_session.history() if isinstance(row, BlockAssistantRow)]
    assert texts[-2:] == ["You said: tell me about the harbour", "cook says: soup is ready"]
