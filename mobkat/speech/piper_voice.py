"""A neural voice: Piper (piper-tts, ONNX Runtime on CPU) with the pinned en_US-joe-medium model.

Noise scales are 0, so the same text always gives the same audio. The model is checked against
its pin (size and SHA-256) and loaded once per process, on first use.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mobkat.errors import SpeechModelError
from mobkat.speech.files import package_installed, verify_pinned
from mobkat.speech.pcm import to_pcm16
from mobkat.speech.pins import JOE_VOICE_FILES

MAX_CHARS = 4_000
"""Longer text is cut here (about four minutes of speech)."""


def piper_available() -> bool:
    """True when piper-tts and the pinned voice package are installed (nothing is loaded)."""
    return package_installed("piper") and package_installed(JOE_VOICE_FILES[0].package)


class PiperVoice:
    """:class:`mobkat.speech.Voice` speaking with Piper's en_US-joe-medium; thread-safe."""

    name = "piper-joe"

    def __init__(self, *, length_scale: float = 1.0) -> None:
        self.length_scale = length_scale
        self._lock = threading.Lock()
        self._voice: Any = None

    def load(self) -> None:
        """Load the voice now (otherwise the first :meth:`say` does); :class:`SpeechModelError` if it cannot."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> Any:
        if self._voice is None:
            try:
                from piper import PiperVoice as Piper
            except ImportError as exc:
                raise SpeechModelError(f"piper-tts is not installed (pip install 'mobkat[speech]'): {exc}") from exc
            model, config = (verify_pinned(pin) for pin in JOE_VOICE_FILES)
            try:
                self._voice = Piper.load(model, config_path=config)
            except (RuntimeError, ValueError, OSError) as exc:
                raise SpeechModelError(f"{model}: Piper could not load the voice: {exc}") from exc
        return self._voice

    def say(self, text: str) -> bytes:
        """``text`` spoken as PCM16 mono 24 kHz; empty bytes when there is nothing to say."""
        text = text[:MAX_CHARS]
        if not text.strip():
            return b""
        from piper.config import SynthesisConfig

        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, length_scale=self.length_scale)
        with self._lock:
            voice = self._load_locked()
            chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
            rate = int(voice.config.sample_rate)
        if not chunks:
            return b""
        return to_pcm16(np.concatenate(chunks).astype(np.float32), rate)


__all__ = ["PiperVoice", "piper_available"]
