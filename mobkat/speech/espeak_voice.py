"""A formant voice: Debian's ``espeak-ng`` program (run as a separate process; deterministic)."""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

from mobkat.errors import SpeechModelError
from mobkat.speech.pcm import to_pcm16

MAX_CHARS = 4_000
TIMEOUT_S = 60.0


def espeak_available() -> bool:
    """True when an ``espeak-ng`` program is on PATH (``apt-get install espeak-ng``)."""
    return shutil.which("espeak-ng") is not None


class EspeakVoice:
    """:class:`mobkat.speech.Voice` speaking with ``espeak-ng -v <voice>`` (e.g. ``en-us``, ``en-gb+f3``)."""

    def __init__(self, voice: str = "en-us", *, words_per_minute: int = 160) -> None:
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.name = f"espeak-ng {voice}"

    def say(self, text: str) -> bytes:
        """``text`` spoken as PCM16 mono 24 kHz; empty bytes when there is nothing to say."""
        text = text[:MAX_CHARS]
        if not text.strip():
            return b""
        program = shutil.which("espeak-ng")
        if program is None:
            raise SpeechModelError("espeak-ng is not installed (apt-get install espeak-ng)")
        try:
            done = subprocess.run(  # text on stdin: never parsed as an option
                [program, "-v", self.voice, "-s", str(self.words_per_minute), "--stdout"],
                input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S, check=True,
            )
            with wave.open(io.BytesIO(done.stdout), "rb") as wav:
                rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
        except (OSError, subprocess.SubprocessError, wave.Error, EOFError) as exc:
            raise SpeechModelError(f"espeak-ng -v {self.voice} failed: {exc}") from exc
        values = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
        return to_pcm16(values, rate)


__all__ = ["EspeakVoice", "espeak_available"]
