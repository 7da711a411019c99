"""PCM16 bytes to and from float arrays at another sample rate (numpy + soxr, both core dependencies)."""

from __future__ import annotations

from typing import Any

import numpy as np
import soxr

from mobkat.audio import SAMPLE_RATE

FloatArray = np.ndarray[Any, np.dtype[np.float32]]


def to_float(pcm: bytes, rate: int = SAMPLE_RATE) -> FloatArray:
    """PCM16 mono 24 kHz ``pcm`` as float32 in [-1, 1] at ``rate`` Hz (an odd trailing byte is ignored)."""
    values = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float32) / 32768.0
    if rate == SAMPLE_RATE or not values.size:
        return values
    return np.asarray(soxr.resample(values, SAMPLE_RATE, rate, quality="HQ"), dtype=np.float32)


def to_pcm16(values: FloatArray, rate: int) -> bytes:
    """Float audio in [-1, 1] at ``rate`` Hz as PCM16 mono 24 kHz bytes."""
    if values.size and rate != SAMPLE_RATE:
        values = np.asarray(soxr.resample(values, rate, SAMPLE_RATE, quality="HQ"), dtype=np.float32)
    return bytes(np.clip(np.rint(values * 32767.0), -32768, 32767).astype("<i2").tobytes())


def loudness_dbfs(values: FloatArray) -> float:
    """RMS level in dB relative to full scale (-inf for digital silence)."""
    if not values.size:
        return float("-inf")
    power = float(np.mean(np.square(values, dtype=np.float64)))
    return 10.0 * float(np.log10(power)) if power > 0 else float("-inf")


__all__ = ["FloatArray", "loudness_dbfs", "to_float", "to_pcm16"]
