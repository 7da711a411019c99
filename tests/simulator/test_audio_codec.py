"""The speech codec and PCM helpers in mobkat.audio."""

from __future__ import annotations

import math
import random
import time
import wave
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat import audio
from mobkat.audio import (
    SAMPLE_RATE,
    WavFormatError,
    chars_for_ms,
    decode_speech,
    duration_ms,
    encode_speech,
    heard_prefix,
    ms_for_chars,
    read_wav,
    rms,
    silence,
    transcribe,
    write_wav,
)

printable = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(printable, st.integers(0, 400), st.integers(0, 400))
def test_printable_text_round_trips_exactly(text: str, lead: int, tail: int) -> None:
    pcm = encode_speech(text, lead_ms=lead, tail_ms=tail)
    assert decode_speech(pcm) == text
    assert duration_ms(pcm) == pytest.approx(lead + ms_for_chars(len(text)) + tail, abs=1)


@settings(max_examples=40, deadline=None)
@given(any_text)
def test_any_unicode_round_trips(text: str) -> None:
    assert decode_speech(encode_speech(text, lead_ms=50)) == text


@settings(max_examples=40, deadline=None)
@given(printable, st.integers(0, 2000))
def test_audio_time_maps_linearly_to_characters(text: str, ms: int) -> None:
    pcm = encode_speech(text)
    heard = heard_prefix(text, ms)
    assert heard == text[: chars_for_ms(ms)]
    # the first ms of the audio decode to exactly that prefix (when it is not empty)
    cut = pcm[: audio.bytes_for_ms(ms_for_chars(len(heard)))]
    assert decode_speech(cut) == (heard or None)


def test_linear_timing_constants() -> None:
    assert ms_for_chars(1) == 20
    assert chars_for_ms(99) == 4
    assert chars_for_ms(ms_for_chars(17)) == 17
    assert heard_prefix("héllo", 60) == "hé"  # é is two UTF-8 bytes: h(20) + é(40)
    assert heard_prefix("héllo", 59) == "h"


def test_tones_are_loud_from_the_first_sample_and_silence_is_silent() -> None:
    pcm = encode_speech("A")
    first = int.from_bytes(pcm[:2], "little", signed=True)
    assert first == audio.TONE_AMPLITUDE
    assert rms(pcm) > 10000
    assert rms(silence(100)) == 0.0
    assert duration_ms(silence(250)) == 250
    assert len(silence(10)) == 480


def test_segments_separated_by_silence_are_joined_with_a_space() -> None:
    pcm = encode_speech("hello", tail_ms=200) + encode_speech("world", lead_ms=10)
    assert decode_speech(pcm) == "hello world"


def test_non_codec_audio_is_not_decoded() -> None:
    rng = random.Random(7)
    noise = audio.pack_samples([rng.randint(-20000, 20000) for _ in range(SAMPLE_RATE // 2)])
    assert decode_speech(noise) is None
    assert transcribe(noise) == "[unintelligible audio, 500 ms]"
    chord = audio.pack_samples(
        [
            int(8000 * (math.cos(2 * math.pi * 600 * n / SAMPLE_RATE) + math.cos(2 * math.pi * 1400 * n / SAMPLE_RATE)))
            for n in range(2400)
        ]
    )
    assert decode_speech(chord) is None
    assert decode_speech(silence(300)) is None
    assert decode_speech(encode_speech("abc")[:-100]) is None  # cut inside a tone


def test_decoding_two_seconds_is_fast() -> None:
    pcm = encode_speech("x" * 100)
    assert duration_ms(pcm) == 2000
    best = min(_timed(lambda: decode_speech(pcm)) for _ in range(3))
    assert best < 0.05


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def test_wav_round_trip(tmp_path: Path) -> None:
    pcm = encode_speech("wav me", lead_ms=20)
    path = tmp_path / "speech.wav"
    write_wav(path, pcm)
    assert read_wav(path) == pcm
    assert decode_speech(read_wav(path)) == "wav me"


def test_wav_with_wrong_format_names_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(400))
    with pytest.raises(WavFormatError) as caught:
        read_wav(path)
    message = str(caught.value)
    assert str(path) in message
    assert "2 channels" in message
    assert "16000 Hz" in message
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not a wav file at all")
    with pytest.raises(WavFormatError, match=r"garbage\.wav"):
        read_wav(garbage)
