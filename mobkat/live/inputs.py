"""Validation of live input chunks: bad base64, wrong format or oversize input is a typed error."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import ValidationError

from mobkat.errors import LiveInputRejectedError
from mobkat.live.wire import (
    CHANNELS,
    INPUT_CHUNK,
    SAMPLE_RATE_HZ,
    AudioChunk,
    ImageChunk,
    InputChunk,
    TextChunk,
    VideoFrameChunk,
)

MAX_AUDIO_BYTES = 2 * 1024 * 1024
MAX_TEXT_CHARS = 64 * 1024


def parse_chunk(raw: Any, where: str) -> InputChunk:
    """Parse a wire chunk dict; ``where`` names the channel for the error message."""
    try:
        return INPUT_CHUNK.validate_python(raw)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'chunk'}: {e['msg']}" for e in exc.errors())
        raise LiveInputRejectedError(f"{where}: invalid input chunk: {problem}",
                                     reason={"kind": "unsupported_input_chunk_variant"}) from None


def decode_audio(chunk: AudioChunk, where: str) -> bytes:
    """Check format and decode base64 pcm16 (24 kHz mono); never lets bad input become silence."""
    if chunk.sample_rate_hz != SAMPLE_RATE_HZ or chunk.channels != CHANNELS:
        raise LiveInputRejectedError(
            f"{where}: audio must be pcm16 {SAMPLE_RATE_HZ} Hz mono, got {chunk.sample_rate_hz} Hz "
            f"with {chunk.channels} channel(s); resample before sending",
            reason={"kind": "audio_input_format_mismatch", "expected_sample_rate_hz": SAMPLE_RATE_HZ,
                    "expected_channels": CHANNELS, "actual_sample_rate_hz": chunk.sample_rate_hz,
                    "actual_channels": chunk.channels})
    if len(chunk.data) > MAX_AUDIO_BYTES * 4 // 3 + 4:
        raise LiveInputRejectedError(_too_large(where),
                                     reason={"kind": "input_too_large", "max_bytes": MAX_AUDIO_BYTES})
    try:
        pcm = base64.b64decode(chunk.data, validate=True)
    except (binascii.Error, ValueError):
        raise LiveInputRejectedError(f"{where}: audio data is not valid base64",
                                     reason={"kind": "audio_input_invalid_base64"}) from None
    check_pcm(pcm, where)
    return pcm


def check_pcm(pcm: bytes, where: str) -> None:
    if not pcm:
        raise LiveInputRejectedError(f"{where}: audio chunk is empty", reason={"kind": "audio_input_empty"})
    if len(pcm) % 2:
        raise LiveInputRejectedError(
            f"{where}: audio has an odd byte count ({len(pcm)}); pcm16 samples are 2 bytes each",
            reason={"kind": "audio_input_format_mismatch", "detail": "odd byte count"})
    if len(pcm) > MAX_AUDIO_BYTES:
        raise LiveInputRejectedError(_too_large(where),
                                     reason={"kind": "input_too_large", "max_bytes": MAX_AUDIO_BYTES,
                                             "actual_bytes": len(pcm)})


def check_text(chunk: TextChunk, where: str) -> str:
    if not chunk.text.strip():
        raise LiveInputRejectedError(f"{where}: text input is empty", reason={"kind": "text_input_empty"})
    if len(chunk.text) > MAX_TEXT_CHARS:
        raise LiveInputRejectedError(f"{where}: text input is longer than {MAX_TEXT_CHARS} characters",
                                     reason={"kind": "input_too_large", "max_bytes": MAX_TEXT_CHARS})
    return chunk.text


def reject_unsupported(chunk: ImageChunk | VideoFrameChunk, where: str) -> LiveInputRejectedError:
    kind = "image_input_not_implemented" if isinstance(chunk, ImageChunk) else "video_frame_input_not_implemented"
    return LiveInputRejectedError(f"{where}: {chunk.kind} input is not supported on live channels yet",
                                  reason={"kind": kind})


def _too_large(where: str) -> str:
    return f"{where}: audio chunk is larger than {MAX_AUDIO_BYTES} bytes; send smaller chunks"
