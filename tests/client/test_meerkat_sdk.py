"""The upstream Meerkat Python SDK (meerkat-sdk 0.8.26, unmodified) drives the ``mobkat-rpc`` console script."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import pytest
import websockets
from meerkat import MeerkatClient, MeerkatError

from mobkat.audio import encode_speech, silence
from tests.client.live_socket import until_observation


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_sessions_history_catalog_and_live(tmp_path: Path) -> None:
    asyncio.run(_drive(tmp_path))


async def _drive(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(live_ws=True, realm_id="sdk", state_root=str(tmp_path / "state"))
    try:
        assert client.has_capability("live") and client.has_capability("sessions")
        assert client.has_capability("mob")  # mob/create and mob/list are served
        catalog = await client.get_models_catalog()
        assert catalog["contract_version"] == {"major": 0, "minor": 8, "patch": 26}
        openai = next(p for p in catalog["providers"] if p["provider"] == "openai")
        assert next(m for m in openai["models"] if m["id"] == "gpt-realtime-2")["profile"]["realtime"] is True

        session = await client.create_session("hello", model="gpt-realtime-2", provider="openai")
        assert session.text == "You said: hello" and session.usage.output_tokens > 0
        turn = await session.turn("remember the codeword fig")
        assert turn.text == "Okay, I will remember: fig."
        history = await client.read_session_history(session.id)
        assert history.message_count == 4 and not history.has_more
        assert [m.role for m in history.messages] == ["user", "block_assistant"] * 2
        assert history.messages[3].blocks[0].text == "Okay, I will remember: fig."
        details = await client.read_session(session.id)
        assert details.model == "gpt-realtime-2" and details.resolved_capabilities is not None
        assert [s.session_id for s in await client.list_sessions()] == [session.id]
        deferred = await client.create_deferred_session("later", model="gpt-5.5")
        assert (await deferred.start_turn("now")).text == "You said: now"

        opened = await client.live_open(session.id)
        channel = opened["channel_id"]
        assert opened["transport"]["transport"] == "websocket" and "&format=pcm_24k_mono" in opened["transport"]["url"]
        async with websockets.connect(opened["transport"]["url"]) as ws:
            assert (await client.live_status(channel))["status"] == {"status": "ready"}
            pcm = encode_speech("remember the codeword amber lantern") + silence(800)
            sent = await client.live_send_input_audio(channel, base64.b64encode(pcm).decode(), 24000, 1)
            assert sent == {"status": "sent"}
            heard = await until_observation(ws, "user_transcript_final")
            assert heard["text"] == "remember the codeword amber lantern"
            assert (await until_observation(ws, "turn_completed"))["stop_reason"] == "end_turn"
            assert await client.live_send_input_text(channel, "hello again") == {"status": "sent"}
            await until_observation(ws, "turn_completed")
            assert (await client.live_refresh(channel)).status == "queued"
            assert await client.live_interrupt(channel) == {"status": "interrupted"}
            with pytest.raises(MeerkatError) as not_audio:
                await client.live_truncate(channel, "no-such-item", 0, 10)
            assert not_audio.value.code == "-32602"  # numeric, as upstream sends it
            assert (await client.live_close(channel)).status == "closed"

        explicit = await client.live_open(session.id, turning_mode="explicit_commit")
        async with websockets.connect(explicit["transport"]["url"]) as ws:
            await client.live_send_input_text(explicit["channel_id"], "what codeword did I ask you to remember?")
            committed = await client.live_commit_input(explicit["channel_id"], response_modality="text")
            assert committed == {"status": "committed"}
            assert (await until_observation(ws, "turn_completed"))["stop_reason"] == "end_turn"
            assert (await client.live_close(explicit["channel_id"])).status == "closed"

        rows = (await client.read_session_history(session.id)).messages
        spoken = rows[5]
        assert spoken.role == "block_assistant" and spoken.blocks[0].block_type == "transcript"
        assert spoken.blocks[0].source == {"kind": "spoken"}
        assert rows[-1].blocks[0].text == "You asked me to remember: amber lantern."

        with pytest.raises(MeerkatError) as missing:
            await client.read_session_history(str(uuid.uuid4()))
        assert missing.value.code == "-32001"  # upstream SDK users match e.code == "-32001"
        with pytest.raises(MeerkatError) as bad_b64:
            await client.live_send_input_audio(channel, "%%% not base64 %%%", 24000, 1)
        assert bad_b64.value.code == "-32602" and "base64" in bad_b64.value.message
    finally:
        await client.close()
