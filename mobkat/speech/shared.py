"""The process-wide ear and voice: created on first use, once, behind a lock.

``MOBKAT_SPEECH=off`` (or ``0``/``false``/``no``) turns real speech off even when the ``speech``
extra is installed; the simulator then hears and speaks only the tone codec.
"""

from __future__ import annotations

import os
import threading

from mobkat.speech.piper_voice import PiperVoice, piper_available
from mobkat.speech.protocols import Ear, Voice
from mobkat.speech.whisper_ear import WhisperEar, whisper_available

SWITCH = "MOBKAT_SPEECH"
_lock = threading.Lock()
_ear: Ear | None = None
_voice: Voice | None = None


def speech_switched_off() -> bool:
    """True when ``MOBKAT_SPEECH`` says off."""
    return os.environ.get(SWITCH, "").strip().lower() in {"0", "off", "false", "no"}


def ear_available() -> bool:
    """A real ear can be had: the extra is installed and not switched off (nothing is loaded)."""
    return not speech_switched_off() and whisper_available()


def voice_available() -> bool:
    """A real voice can be had: the extra is installed and not switched off (nothing is loaded)."""
    return not speech_switched_off() and piper_available()


def shared_ear() -> Ear | None:
    """The process's ear (Whisper base), or None without the ``speech`` extra; its model loads on first hearing."""
    global _ear
    if not ear_available():
        return None
    with _lock:
        if _ear is None:
            _ear = WhisperEar()
        return _ear


def shared_voice() -> Voice | None:
    """The process's voice (Piper joe), or None without the ``speech`` extra; its model loads on first use."""
    global _voice
    if not voice_available():
        return None
    with _lock:
        if _voice is None:
            _voice = PiperVoice()
        return _voice


def describe() -> str:
    """One line for a banner: whether this process hears and speaks real speech, and how to change it."""
    if speech_switched_off():
        return f"tone codec only ({SWITCH}=off)"
    ear, voice = whisper_available(), piper_available()
    if ear and voice:
        return "real speech: Whisper base hears, Piper joe speaks (tone codec first; docs/speech.md)"
    if ear:
        return "real speech in (Whisper base), tone codec out (piper-tts not installed; docs/speech.md)"
    return "tone codec only (pip install 'mobkat[speech]' for real speech; docs/speech.md)"


__all__ = ["SWITCH", "describe", "ear_available", "shared_ear", "shared_voice", "speech_switched_off",
           "voice_available"]
