"""The simulator hears a WAV of real speech over the real openai SDK, and answers in real speech."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr
from speech_helpers import COMMIT_MODE, append_audio, audio_of, connect, recv_until, run, say_and_commit, transcript_of

from mobkat.audio import decode_speech, encode_speech, load_wav, silence
from mobkat.simulator import Simulator
from mobkat.speech import Ear, Voice, normalise, word_accuracy


def speech_wav(path: Path, voice: Voice, text: str, rate: int = 16_000) -> Path:
    """``text`` spoken into a 16 kHz WAV file, like a recording a person makes."""
    import wave

    pcm = np.frombuffer(voice.say(text), "<i2").astype(np.float32) / 32768.0
    values = soxr.resample(pcm, 24_000, rate)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(values, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def test_real_speech_in_real_speech_out(sim: Simulator, ear: Ear, voice: Voice, tmp_path: Path) -> None:
    sentence = "My cousin painted the garden fence bright yellow."
    pcm = load_wav(speech_wav(tmp_path / "cousin.wav", voice, sentence))

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session=COMMIT_MODE)
            await recv_until(conn, "session.updated")
            heard = await say_and_commit(conn, silence(200) + pcm + silence(300))
            assert word_accuracy([(sentence, heard)]) >= 0.85, heard
            await conn.response.create()
            events = await recv_until(conn, "response.done")
            reply = transcript_of(events)
            assert reply == f"You said: {heard}"
            audio = audio_of(events)
            assert decode_speech(audio) is None  # not codec tones: speech
            heard_reply = ear.hear(audio) or ""
            assert word_accuracy([(reply, heard_reply)]) >= 0.8, heard_reply
            assert events[-1].response.status == "completed"

    run(scenario())


def test_server_vad_turn_is_heard_and_answered(sim: Simulator, voice: Voice) -> None:
    sentence = "Please bring two lemons and a loaf of bread."

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session={
                "type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}})
            await recv_until(conn, "session.updated")
            await append_audio(conn, silence(300) + voice.say(sentence) + silence(1200))
            events = await recv_until(conn, "response.done")
            kinds = [e.type for e in events]
            assert "input_audio_buffer.speech_started" in kinds and "input_audio_buffer.speech_stopped" in kinds
            done = [e for e in events if e.type == "conversation.item.input_audio_transcription.completed"]
            assert done and "lemons" in normalise(done[0].transcript), done
            assert transcript_of(events).startswith("You said: ")

    run(scenario())


def test_tone_codec_still_comes_first_and_answers_in_tones(sim: Simulator) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session=COMMIT_MODE)
            await recv_until(conn, "session.updated")
            heard = await say_and_commit(conn, encode_speech("codec words stay exact", lead_ms=100, tail_ms=300))
            assert heard == "codec words stay exact"
            await conn.response.create()
            events = await recv_until(conn, "response.done")
            assert decode_speech(audio_of(events)) == "You said: codec words stay exact"

    run(scenario())


def test_script_voice_setting_overrides_auto(sim: Simulator, ear: Ear, voice: Voice) -> None:
    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session=COMMIT_MODE)
            await recv_until(conn, "session.updated")
            sim.script.speech.voice = "speech"  # codec in, speech out
            await say_and_commit(conn, encode_speech("good morning", lead_ms=100, tail_ms=300))
            await conn.response.create()
            audio = audio_of(await recv_until(conn, "response.done"))
            assert decode_speech(audio) is None
            assert "morning" in normalise(ear.hear(audio) or "")
            sim.script.speech.voice = "tone"  # speech in, codec out
            heard = await say_and_commit(conn, voice.say("Where is the nearest bakery?") + silence(300))
            assert "bakery" in normalise(heard)
            await conn.response.create()
            assert decode_speech(audio_of(await recv_until(conn, "response.done"))) == f"You said: {heard}"

    run(scenario(), timeout=90)


def test_noise_is_still_unintelligible(sim: Simulator) -> None:
    rng = np.random.default_rng(7)
    noise = bytes((np.clip(rng.normal(0, 0.1, 24_000), -1, 1) * 32767).astype("<i2").tobytes())

    async def scenario() -> None:
        async with connect(sim) as conn:
            await recv_until(conn, "session.created")
            await conn.session.update(session=COMMIT_MODE)
            await recv_until(conn, "session.updated")
            assert await say_and_commit(conn, noise) == "[unintelligible audio, 1000 ms]"

    run(scenario())
