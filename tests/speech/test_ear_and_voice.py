"""The ear understands what nobody prepared it for, the voice is deterministic, hostile audio is harmless."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mobkat.audio import SAMPLE_RATE, duration_ms, encode_speech, silence
from mobkat.errors import SpeechModelError
from mobkat.speech import (
    Ear,
    EspeakVoice,
    Voice,
    WhisperEar,
    espeak_available,
    normalise,
    shared_ear,
    word_accuracy,
    word_errors,
)
from mobkat.speech.files import read_pinned
from mobkat.speech.pins import WHISPER_BASE_FILES, PinnedFile

UNPREPARED = [  # in no benchmark, rule or vocabulary: the ear is open-vocabulary
    "A purple kite drifted slowly over the quiet harbour.",
    "Grandma keeps her spare keys inside an old biscuit tin.",
    "The plumber promised to fix the kitchen sink on Friday.",
]


def noise(seconds: float, level: float, seed: int) -> bytes:
    values = np.random.default_rng(seed).normal(0.0, level, int(seconds * SAMPLE_RATE))
    return bytes((np.clip(values, -1, 1) * 32767).astype("<i2").tobytes())


def test_word_scoring_normalises_case_punctuation_and_numbers() -> None:
    assert normalise("At 6 O'Clock, the NEIGHBOURS left!") == ["at", "six", "oclock", "the", "neighbors", "left"]
    assert word_errors("the cat sat", "the cat sat") == (0, 3)
    assert word_errors("the cat sat", "a cat sat down") == (2, 3)
    assert word_accuracy([("one two", "one two"), ("three four", "three")]) == pytest.approx(0.75)


def test_piper_voice_round_trips_unprepared_sentences(ear: Ear, voice: Voice) -> None:
    heard = []
    for sentence in UNPREPARED:
        pcm = voice.say(sentence)
        assert 1000 < duration_ms(pcm) < 10_000
        heard.append((sentence, ear.hear(pcm) or ""))
    assert word_accuracy(heard) >= 0.85, heard


@pytest.mark.skipif(not espeak_available(), reason="needs Debian's espeak-ng (apt-get install espeak-ng)")
def test_a_second_voice_espeak_ng_is_heard_too(ear: Ear) -> None:
    espeak = EspeakVoice("en-us")
    pairs = [(s, ear.hear(espeak.say(s)) or "") for s in UNPREPARED[1:]]
    assert word_accuracy(pairs) >= 0.8, pairs
    assert espeak.say(UNPREPARED[0]) == espeak.say(UNPREPARED[0])


def test_voice_is_deterministic_and_says_nothing_for_blank_text(voice: Voice) -> None:
    first = voice.say("Same words, same sound.")
    assert first == voice.say("Same words, same sound.")
    assert len(first) % 2 == 0 and int(np.abs(np.frombuffer(first, "<i2").astype(np.int32)).max()) > 3000  # audible
    assert voice.say("") == b"" and voice.say("   \n") == b""


def test_hostile_audio_is_none_and_bounded(ear: Ear) -> None:
    for pcm in (b"", b"\x01", silence(5000), noise(2.0, 0.1, 1), noise(1.0, 0.9, 2),
                encode_speech("hello there")[:-480] + silence(300), encode_speech("x")[:480] + silence(200)):
        began = time.process_time()
        assert ear.hear(pcm) is None
        assert time.process_time() - began < 20


def test_huge_audio_is_cut_to_max_seconds(voice: Voice) -> None:
    short_ear = WhisperEar(max_seconds=4.0)
    sentence = voice.say("The red bicycle is leaning against the fence.")
    huge = (sentence + silence(400)) * 60 + noise(60.0, 0.05, 3)  # ~4 minutes
    began = time.process_time()
    heard = short_ear.hear(huge) or ""
    assert time.process_time() - began < 30
    assert "bicycle" in heard.lower()


def test_a_tampered_model_file_is_refused(ear: Ear) -> None:
    real = WHISPER_BASE_FILES[0]
    assert read_pinned(real)[:1] == b"{"
    for wrong in (PinnedFile(real.package, real.name, real.size, "0" * 64),
                  PinnedFile(real.package, real.name, real.size + 1, real.sha256),
                  PinnedFile("no_such_speech_package", real.name, real.size, real.sha256)):
        with pytest.raises(SpeechModelError) as caught:
            read_pinned(wrong)
        assert real.name in str(caught.value) or "not installed" in str(caught.value)


def test_speech_switch_off(ear: Ear, voice: Voice, monkeypatch: pytest.MonkeyPatch) -> None:
    from mobkat.speech import describe, shared_voice

    assert describe().startswith("real speech: Whisper base hears, Piper joe speaks")
    monkeypatch.setenv("MOBKAT_SPEECH", "off")
    assert shared_ear() is None and shared_voice() is None
    assert describe() == "tone codec only (MOBKAT_SPEECH=off)"


def test_hints_bias_the_ear_toward_the_mobs_own_words(ear: Ear, voice: Voice) -> None:
    question = silence(300) + voice.say("Ask the researcher: how long do meerkats sleep?") + silence(900)
    assert isinstance(ear, WhisperEar)
    try:
        ear.hints = "Meerkats, researcher, host"  # the mob's vocabulary, not the sentence
        assert "meerkats" in normalise(ear.hear(question) or "")
    finally:
        ear.hints = None
