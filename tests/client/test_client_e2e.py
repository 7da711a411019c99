"""End to end: the SDK spawns the real server (simulator, live WebSocket) and drives a whole session."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from mobkat.audio import read_wav
from mobkat.client import (
    ChannelNotFound,
    ConnectionClosed,
    InvalidParams,
    MethodNotFound,
    MobkatClient,
    ModelNotRealtime,
    SessionIdle,
    SessionNotFound,
)
from mobkat.history import BlockAssistantRow, UserRow
from mobkat.live.wire import AssistantAudioChunk
from tests.rpc.helpers import SERVER, wav_of

LIGHTHOUSE = "please tell me a long story about a lighthouse keeper and the sea"


async def _connect(tmp_path: Path, *extra: str) -> MobkatClient:
    client = MobkatClient(SERVER)
    return await client.connect(live_ws=True, simulator=True, state_root=tmp_path / "state", realm_id="e2e",
                                extra_args=["--simulator-pace", "1", *extra])


def test_session_history_catalog_and_a_spoken_live_turn(tmp_path: Path) -> None:
    asyncio.run(_whole_session(tmp_path))


async def _whole_session(tmp_path: Path) -> None:
    async with await _connect(tmp_path) as client:
        assert client.server is not None and "live/open" in client.server.methods
        catalog = await client.get_models_catalog()
        realtime = [m.id for p in catalog.providers for m in p.models if m.profile and m.profile.realtime]
        assert realtime == ["gpt-realtime-2"]

        created = await client.create_session("hello", model="gpt-realtime-2", system_prompt="Answer briefly.")
        assert created.text == "You said: hello" and created.turns == 1
        events = await client.session_events(created.session_id).until("run_completed", timeout=5)
        assert events[0].type == "run_started"
        assert "".join(e.delta or "" for e in events if e.type == "text_delta") == "You said: hello"
        history = await client.read_session_history(created.session_id)
        assert history.message_count == 2 and not history.has_more

        opened = await client.live_open(created.session_id)
        assert opened.transport.url and "format=pcm_24k_mono" in opened.transport.url
        assert opened.continuity.mode == "transcript_only" and opened.capabilities.barge_in_supported
        async with client.live_connect(opened) as socket:
            # 1. a WAV file streamed as 40 ms binary frames: transcript, audio, committed turn
            await socket.send_audio(read_wav(wav_of(tmp_path, "remember the codeword amber lantern")), frame_ms=40)
            heard = await socket.wait_for("user_transcript_final")
            assert heard.observation == "user_transcript_final"
            assert heard.text == "remember the codeword amber lantern"
            audio = await socket.wait_for("assistant_audio_chunk")
            assert isinstance(audio, AssistantAudioChunk) and audio.data and audio.sample_rate_hz == 24000
            final = await socket.wait_for("assistant_transcript_final")
            assert final.observation == "assistant_transcript_final"
            assert final.text == "Okay, I will remember: amber lantern."
            done = await socket.wait_for("turn_completed")
            assert done.observation == "turn_completed" and done.stop_reason == "end_turn"

            # 2. barge-in: interrupt while the reply is playing, truncate at the 150 ms we "played"
            await socket.send_text(LIGHTHOUSE)
            first = await socket.wait_for("assistant_audio_chunk")
            assert isinstance(first, AssistantAudioChunk) and first.item_id
            await socket.wait_for("assistant_audio_chunk")  # 200 ms received; we "played" 150 of them
            assert (await client.live_interrupt(opened.channel_id)).status == "interrupted"
            ack = await client.live_truncate(opened.channel_id, first.item_id, 0, 150)
            assert ack.status == "truncated"
            truncated = await socket.wait_for("assistant_transcript_truncated")
            assert truncated.observation == "assistant_transcript_truncated" and truncated.text == "You"
            cancelled = await socket.wait_for("turn_completed")
            assert cancelled.observation == "turn_completed" and cancelled.stop_reason == "cancelled"
            assert any(o.observation == "turn_interrupted" for o in socket.seen)

            assert (await client.live_status(opened.channel_id)).status == "ready"
            assert (await client.live_refresh(opened.channel_id)).status == "queued"
            assert (await client.live_close(opened.channel_id)).status == "closed"
            rest = [o async for o in socket]
        assert socket.close_code == 1000
        assert rest[-1].observation == "status_changed" and rest[-1].status.status == "closed"
        assert (await client.live_status(opened.channel_id)).status == "closed"  # stays readable

        rows = (await client.read_session_history(created.session_id)).messages
        assert [r.role for r in rows] == ["user", "block_assistant"] * 3
        spoken_user, spoken_reply, typed_user, cut_reply = rows[2:]
        assert isinstance(spoken_user, UserRow) and spoken_user.text == "remember the codeword amber lantern"
        assert isinstance(spoken_reply, BlockAssistantRow)
        assert spoken_reply.blocks[0].data == {"text": "Okay, I will remember: amber lantern.",
                                               "source": {"kind": "spoken"}}
        assert isinstance(typed_user, UserRow) and typed_user.text == LIGHTHOUSE
        assert isinstance(cut_reply, BlockAssistantRow) and cut_reply.stop_reason == "cancelled"
        assert cut_reply.text == "You"  # only what was heard
        later = await client.start_turn(created.session_id, "what codeword did I ask you to remember?")
        assert later.text == "You asked me to remember: amber lantern."
        info = await client.read_session(created.session_id)
        assert info.message_count == 8 and info.is_active and info.live_channel_id is None


def test_typed_errors_and_refusals(tmp_path: Path) -> None:
    asyncio.run(_typed_errors(tmp_path))


async def _typed_errors(tmp_path: Path) -> None:
    async with await _connect(tmp_path) as client:
        unknown = str(uuid.uuid4())
        with pytest.raises(SessionNotFound) as missing:
            await client.read_session_history(unknown)
        assert missing.value.rpc_code == -32001 and unknown in missing.value.message
        with pytest.raises(SessionNotFound) as live_missing:
            await client.live_open(unknown)
        assert live_missing.value.rpc_code == -32602 and live_missing.value.message == f"session {unknown} not found"
        with pytest.raises(ChannelNotFound) as no_channel:
            await client.live_status(unknown)
        assert no_channel.value.rpc_code == -32602 and "not found" in no_channel.value.message

        text_session = await client.create_session("hi", model="gpt-5.5")
        with pytest.raises(ModelNotRealtime, match="does not support realtime") as not_rt:
            await client.live_open(text_session.session_id)
        assert not_rt.value.rpc_code == -32602
        idle = await client.create_session("later", model="gpt-realtime-2", deferred=True)
        with pytest.raises(SessionIdle, match="start a turn"):
            await client.live_open(idle.session_id)
        with pytest.raises(InvalidParams, match="live seed window must be greater than zero"):
            await client.live_open(text_session.session_id, seed_max_chars=0)
        with pytest.raises(InvalidParams, match="prompt"):
            await client.request("session/create", {"model": "gpt-5.5"})
        with pytest.raises(MethodNotFound):
            await client.request("session/teleport", {})
        assert len(await client.list_sessions()) == 2


def test_a_server_that_cannot_start_is_a_typed_error_with_its_stderr() -> None:
    async def body() -> None:
        with pytest.raises(ConnectionClosed, match="unrecognized arguments: --bogus"):
            await MobkatClient(SERVER).connect(extra_args=["--bogus"])

    asyncio.run(body())
