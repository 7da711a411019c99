"""Realtime sessions driven by the openai SDK's own realtime client (every frame validated in conftest)."""

from __future__ import annotations

import base64
import json

from sim_helpers import (
    append_audio,
    audio_of,
    connect,
    recv_until,
    run,
    transcript_of,
    types_of,
    user_text,
)

from mobkat.audio import decode_speech, encode_speech, heard_prefix, silence
from mobkat.simulator import Simulator, ToolRule

TRANSCRIBE = {"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}


def test_text_turn_streams_audio_and_transcript_in_openai_order(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            created = await recv_until(conn, "session.created")
            assert created[0].session.model == "gpt-realtime-2"
            await user_text(conn, "hello simulator")
            events = await recv_until(conn, "response.done")
            kinds = types_of(events)
            head = kinds[:6]
            assert head == [
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added",
            ]
            assert kinds[-6:] == [
                "response.output_audio.done",
                "response.output_audio_transcript.done",
                "response.content_part.done",
                "response.output_item.done",
                "conversation.item.done",
                "response.done",
            ]
            middle = set(kinds[6:-6])
            assert middle == {"response.output_audio.delta", "response.output_audio_transcript.delta"}
            reply = "You said: hello simulator"
            assert transcript_of(events) == reply
            assert decode_speech(audio_of(events)) == reply
            done = events[-1].response
            assert done.status == "completed"
            assert done.output[0].content[0].transcript == reply
            assert done.usage.total_tokens > 0
            # the user item is linked to nothing, the assistant item to the user item
            assert events[4].previous_item_id == events[0].item.id

    run(scenario())
    assert sim.stats.client_event_types() == ["conversation.item.create", "response.create"]


def test_transcript_deltas_follow_the_audio_position(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "a fairly long sentence to stream")
            events = await recv_until(conn, "response.done")
            reply = "You said: a fairly long sentence to stream"
            audio = b""
            said = ""
            for event in events:
                if event.type == "response.output_audio.delta":
                    audio += base64.b64decode(event.delta)
                if event.type == "response.output_audio_transcript.delta":
                    said += event.delta
                    assert said == heard_prefix(reply, len(audio) * 1000 // 48000)

    run(scenario())


def test_audio_turn_with_server_vad(sim: Simulator) -> None:
    phrase = "remember the codeword amber lantern"

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session=TRANSCRIBE)  # type: ignore[arg-type]
            await recv_until(conn, "session.updated")
            await append_audio(conn, encode_speech(phrase, lead_ms=600, tail_ms=700))
            events = await recv_until(conn, "response.done")
            kinds = types_of(events)
            assert kinds[:7] == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "conversation.item.input_audio_transcription.completed",
                "response.created",
            ]
            started, stopped, committed = events[0], events[1], events[2]
            assert started.audio_start_ms == 600 - 300  # speech onset minus prefix padding
            assert stopped.audio_end_ms == 600 + 20 * len(phrase) + 500  # plus silence_duration_ms
            assert started.item_id == stopped.item_id == committed.item_id == events[3].item.id
            assert events[5].transcript == phrase
            reply = "Okay, I will remember: amber lantern."
            assert transcript_of(events) == reply
            assert decode_speech(audio_of(events)) == reply
            # second spoken turn: recall from the conversation
            await append_audio(conn, encode_speech("what was the codeword?", lead_ms=100, tail_ms=600))
            events = await recv_until(conn, "response.done")
            assert decode_speech(audio_of(events)) == "You asked me to remember: amber lantern."

    run(scenario())


def test_unintelligible_audio_is_described(sim: Simulator) -> None:
    half_a_byte = encode_speech("x")[:480]  # one 10 ms tone: not valid codec speech

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(
                session={
                    "type": "realtime",
                    "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": None}},
                }
            )
            await recv_until(conn, "session.updated")
            await append_audio(conn, half_a_byte + silence(200))
            await conn.input_audio_buffer.commit()
            events = await recv_until(conn, "conversation.item.input_audio_transcription.completed")
            assert events[-1].transcript == "[unintelligible audio, 210 ms]"
            await conn.response.create()
            reply = transcript_of(await recv_until(conn, "response.done"))
            assert reply == "You said: [unintelligible audio, 210 ms]"

    run(scenario())


def test_explicit_commit_mode(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
            updated = await recv_until(conn, "session.updated")
            assert updated[0].session.audio.input.turn_detection is None
            await conn.input_audio_buffer.commit()  # nothing buffered yet
            error = await recv_until(conn, "error")
            assert error[0].error.code == "input_audio_buffer_commit_empty"
            await append_audio(conn, encode_speech("hello in commit mode", lead_ms=200, tail_ms=900))
            await conn.input_audio_buffer.commit()
            events = await recv_until(conn, "conversation.item.done")
            assert types_of(events) == [
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]  # no VAD events and no transcription (not configured), no automatic response
            await conn.response.create()
            events = await recv_until(conn, "response.done")
            assert decode_speech(audio_of(events)) == "You said: hello in commit mode"
            await append_audio(conn, silence(300))
            await conn.input_audio_buffer.clear()
            assert types_of(await recv_until(conn, "input_audio_buffer.cleared")) == ["input_audio_buffer.cleared"]

    run(scenario())
    assert "speech_started" not in " ".join(sim.stats.all_server_frames())


def test_text_output_modality(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "text please", respond=False)
            await conn.response.create(response={"output_modalities": ["text"]})
            events = await recv_until(conn, "response.done")
            kinds = types_of(events)
            assert "response.output_audio.delta" not in kinds
            text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
            assert text == "You said: text please"
            assert [e.text for e in events if e.type == "response.output_text.done"] == [text]
            assert events[-1].response.output_modalities == ["text"]
            assert events[-1].response.output[0].content[0].text == text

    run(scenario())


def test_cancel_mid_response_and_truncate(sim: Simulator) -> None:
    sim.set_pace(1.0)  # real time: 100 ms of wall clock per 100 ms audio delta
    long_text = "please say something long enough to be interrupted halfway"

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, long_text)
            events = await recv_until(conn, "response.output_audio.delta")
            item_id = events[-1].item_id
            await conn.response.cancel()
            events += await recv_until(conn, "response.done")
            done = events[-1].response
            assert done.status == "cancelled"
            assert done.status_details.reason == "client_cancelled"
            assert done.output[0].status == "incomplete"
            heard_audio = audio_of(events)
            full = f"You said: {long_text}"
            assert len(heard_audio) < len(encode_speech(full)) / 2
            partial = transcript_of(events)
            assert full.startswith(partial) and len(partial) < len(full)
            # the client only played 60 ms: truncate the item to that
            await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=60)
            truncated = await recv_until(conn, "conversation.item.truncated")
            assert (truncated[-1].item_id, truncated[-1].audio_end_ms) == (item_id, 60)
            await conn.send({"type": "conversation.item.retrieve", "item_id": item_id})
            retrieved = await recv_until(conn, "conversation.item.retrieved")
            assert retrieved[-1].item.content[0].transcript == "You"  # 60 ms = 3 characters
            # truncating beyond the audio is an error, and the connection survives
            await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=60_000)
            error = await recv_until(conn, "error")
            assert error[-1].error.param == "audio_end_ms"

    run(scenario())


def test_cancel_without_response_and_double_create_are_errors(sim: Simulator) -> None:
    sim.set_pace(1.0)

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.response.cancel()
            error = await recv_until(conn, "error")
            assert error[-1].error.code == "response_cancel_not_active"
            await user_text(conn, "one two three four five six")
            await recv_until(conn, "response.created")
            await conn.response.create()
            error = await recv_until(conn, "error")
            assert error[-1].error.code == "conversation_already_has_active_response"
            await conn.response.cancel()
            assert (await recv_until(conn, "response.done"))[-1].response.status == "cancelled"

    run(scenario())


def test_barge_in_cancels_the_response(sim: Simulator) -> None:
    sim.set_pace(1.0)

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "tell me a long story about the sea and the stars")
            await recv_until(conn, "response.output_audio.delta")
            await append_audio(conn, encode_speech("stop", lead_ms=20))
            events = await recv_until(conn, "response.done")
            assert "input_audio_buffer.speech_started" in types_of(events)
            assert events[-1].response.status == "cancelled"
            assert events[-1].response.status_details.reason == "turn_detected"

    run(scenario())


def test_tool_rule_in_realtime(sim: Simulator) -> None:
    sim.add_tool_rule(ToolRule(pattern=r"weather in (?P<city>\w+)", tool="get_weather", arguments={"city": "{city}"}))
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session={"type": "realtime", "tools": [tool]})  # type: ignore[list-item]
            await recv_until(conn, "session.updated")
            await user_text(conn, "what's the weather in Kyiv")
            events = await recv_until(conn, "response.done")
            kinds = types_of(events)
            assert "response.output_audio.delta" not in kinds
            done = next(e for e in events if e.type == "response.function_call_arguments.done")
            assert done.name == "get_weather"
            assert json.loads(done.arguments) == {"city": "Kyiv"}
            deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
            assert deltas == done.arguments
            assert events[-1].response.output[0].type == "function_call"
            await conn.conversation.item.create(
                item={"type": "function_call_output", "call_id": done.call_id, "output": "21C, clear"}
            )
            await conn.response.create()
            events = await recv_until(conn, "response.done")
            assert transcript_of(events) == "Tool get_weather returned: 21C, clear"

    run(scenario())


def test_session_update_is_reflected(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            created = (await recv_until(conn, "session.created"))[0].session
            assert created.audio.input.turn_detection.type == "server_vad"
            await conn.session.update(
                session={
                    "type": "realtime",
                    "instructions": "Answer in English.",
                    "audio": {
                        "input": {
                            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 200},
                        },
                        "output": {"voice": "cedar"},
                    },
                }
            )
            session = (await recv_until(conn, "session.updated"))[0].session
            assert session.instructions == "Answer in English."
            assert session.audio.input.transcription.language == "en"
            assert session.audio.input.turn_detection.silence_duration_ms == 200
            assert session.audio.input.turn_detection.prefix_padding_ms == 300  # defaults filled in
            assert session.audio.output.voice == "cedar"
            assert session.audio.output.format.type == "audio/pcm"  # untouched fields kept
            # unsupported settings are refused with an error naming the field; the session is unchanged
            await conn.session.update(
                session={"type": "realtime", "audio": {"output": {"format": {"type": "audio/pcmu"}}}}
            )
            error = (await recv_until(conn, "error"))[0].error
            assert error.param == "session.audio.output.format"
            await conn.send_raw(json.dumps({"type": "session.update", "session": {"type": "transcription"}}))
            assert (await recv_until(conn, "error"))[0].error.param == "session.type"
            # the shorter silence now ends the turn sooner
            await append_audio(conn, encode_speech("quick", lead_ms=100, tail_ms=250))
            events = await recv_until(conn, "response.done")
            assert events[1].type == "input_audio_buffer.speech_stopped"
            assert events[1].audio_end_ms == 100 + 5 * 20 + 200

    run(scenario())


def test_unknown_and_malformed_events_get_errors_and_the_connection_survives(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.send_raw(json.dumps({"type": "bogus.event", "event_id": "evt_1"}))
            error = (await recv_until(conn, "error"))[0].error
            assert (error.type, error.code, error.param, error.event_id) == (
                "invalid_request_error",
                "invalid_value",
                "type",
                "evt_1",
            )
            await conn.send_raw("{not json")
            assert (await recv_until(conn, "error"))[0].error.code == "invalid_json"
            await conn.send_raw(json.dumps({"type": "conversation.item.truncate", "item_id": "x"}))
            error = (await recv_until(conn, "error"))[0].error
            assert "audio_end_ms" in error.message
            await conn.send_raw(json.dumps({"type": "input_audio_buffer.append", "audio": "***"}))
            assert (await recv_until(conn, "error"))[0].error.param == "audio"
            await conn.conversation.item.delete(item_id="missing")
            assert "missing" in (await recv_until(conn, "error"))[0].error.message
            await user_text(conn, "still alive?")
            assert transcript_of(await recv_until(conn, "response.done")) == "You said: still alive?"

    run(scenario())


def test_items_keep_client_ids_and_order(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            seed = [
                {
                    "id": "seed_1",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "remember the codeword fig"}],
                },
                {
                    "id": "seed_2",
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "ok"}],
                },
            ]
            for item in seed:
                await conn.conversation.item.create(item=item)  # type: ignore[arg-type]
            events = await recv_until(conn, "conversation.item.done")
            events += await recv_until(conn, "conversation.item.done")
            added = [e for e in events if e.type == "conversation.item.added"]
            assert [(e.item.id, e.previous_item_id) for e in added] == [("seed_1", None), ("seed_2", "seed_1")]
            await conn.conversation.item.create(
                previous_item_id="root",
                item={
                    "id": "sys_0",
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": "be kind"}],
                },
            )
            assert (await recv_until(conn, "conversation.item.done"))[-1].previous_item_id is None
            await conn.conversation.item.create(item={"id": "seed_1", "type": "message", "role": "user", "content": []})
            assert "already exists" in (await recv_until(conn, "error"))[0].error.message
            await user_text(conn, "which codeword?")
            assert transcript_of(await recv_until(conn, "response.done")) == "You asked me to remember: fig."

    run(scenario())


def test_out_of_band_response_leaves_the_conversation_alone(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await user_text(conn, "in band", respond=False)
            await recv_until(conn, "conversation.item.done")
            await conn.response.create(
                response={
                    "conversation": "none",
                    "output_modalities": ["text"],
                    "metadata": {"purpose": "summary"},
                    "input": [
                        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "aside"}]}
                    ],
                }
            )
            events = await recv_until(conn, "response.done")
            assert "conversation.item.added" not in types_of(events)
            done = events[-1].response
            assert done.conversation_id is None
            assert done.metadata == {"purpose": "summary"}
            assert done.output[0].content[0].text == "You said: aside"
            await conn.response.create()
            assert transcript_of(await recv_until(conn, "response.done")) == "You said: in band"

    run(scenario())
