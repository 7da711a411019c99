"""The tone codec survives a browser's resampling path (24 kHz → 48 kHz → 24 kHz).

A browser captures the fake microphone at 48 kHz and an AudioContext at 24 kHz resamples it back; the
two clocks are not sample-aligned, so the round trip shifts the audio by a fraction of a sample and the
resampler rings for a moment after the last tone. The decoder must read through that ringing.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.audio import decode_speech, encode_speech, silence


def browser_path(pcm: bytes, shift_48k: int) -> bytes:
    """``pcm`` resampled up to 48 kHz, delayed by ``shift_48k`` samples there, and resampled back."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
    up = np.concatenate([np.zeros(shift_48k, np.float32), soxr.resample(x, 24000, 48000)])
    back = soxr.resample(up, 48000, 24000)
    return bytes(np.clip(np.rint(back * 32768), -32768, 32767).astype("<i2").tobytes())


@pytest.mark.parametrize("shift_48k", [0, 1, 2, 3])
def test_speech_decodes_after_the_round_trip(shift_48k: int) -> None:
    text = "Ask the researcher: what do meerkats eat?"
    heard = browser_path(silence(300) + encode_speech(text) + silence(700), shift_48k)
    assert decode_speech(heard) == text  # odd shifts (half a 24 kHz sample) left ringing the old decoder refused


@settings(max_examples=15, deadline=None)
@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=24), st.integers(0, 5))
def test_any_ascii_text_survives_the_round_trip(text: str, shift_48k: int) -> None:
    pcm = silence(100) + encode_speech(text, tail_ms=200) + encode_speech("and more", tail_ms=300)
    assert decode_speech(browser_path(pcm, shift_48k)) == f"{text} and more"


def test_a_loud_partial_tone_is_still_not_speech() -> None:
    assert decode_speech(encode_speech("ab") + encode_speech("c")[:400]) is None
