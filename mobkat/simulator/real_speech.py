"""The simulator's ear and mouth: the tone codec first, real speech (``mobkat[speech]``) when installed.

Hearing: codec tones decode exactly as before; only audio that is not codec speech goes to the
real ear (Whisper, in a worker thread so the event loop keeps serving). Speaking: a reply is
real speech when the script's ``speech.voice`` asks for it, or with ``"auto"`` when the caller's
latest audio was itself heard as real speech; otherwise it is codec tones.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from mobkat.audio import decode_speech, describe_unintelligible, duration_ms, silence
from mobkat.errors import SpeechModelError
from mobkat.simulator.conversation import Conversation
from mobkat.simulator.script import SimulatorScript
from mobkat.simulator.speech import Speech, speak

log = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True)
class Heard:
    """What the simulator understood of input audio; ``by_ear`` when the real ear (not the codec) heard it."""

    text: str
    by_ear: bool = False


def _warn_once(what: str, exc: Exception) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning("real speech %s is off for this process: %s", what, exc)


async def hear(pcm: bytes) -> Heard:
    """Codec text if ``pcm`` is codec speech, else the real ear's words, else ``[unintelligible audio, N ms]``."""
    text = decode_speech(pcm)
    if text is not None:
        return Heard(text)
    from mobkat.speech.shared import shared_ear  # numpy, soxr and the models load only when needed

    ear = shared_ear() if "ear" not in _warned else None
    if ear is not None:
        try:
            words = await asyncio.to_thread(ear.hear, pcm)
        except SpeechModelError as exc:
            _warn_once("ear", exc)
            words = None
        if words is not None:
            return Heard(words, by_ear=True)
    return Heard(describe_unintelligible(pcm))


def wants_real_voice(script: SimulatorScript, conversation: Conversation) -> bool:
    """Whether a reply should be real speech (see the module docstring)."""
    mode = script.speech.voice
    if mode != "auto":
        return mode == "speech"
    for item in reversed(conversation.items):
        audio = [part for part in item.parts if part.type == "input_audio"]
        if item.role == "user" and audio:
            return any(part.heard_by_ear for part in audio)
    return False


def _even_timeline(text: str, total_ms: int) -> Sequence[int]:
    """Character ``i`` counts as said once ``(i + 1) / len(text)`` of the audio has played."""
    count = max(len(text), 1)
    return array("I", (total_ms * (index + 1) // count for index in range(len(text))))


async def say(text: str, word_gaps_ms: Sequence[int], real: bool) -> tuple[Speech, bool]:
    """``text`` as real speech when ``real`` and a voice is installed, else as codec tones; and whether it is real."""
    from mobkat.speech.shared import shared_voice

    voice = shared_voice() if real and "voice" not in _warned else None
    if voice is not None and text.strip():
        try:
            pcm = await asyncio.to_thread(voice.say, text)
        except SpeechModelError as exc:
            _warn_once("voice", exc)
        else:
            return Speech(text, pcm, _even_timeline(text, duration_ms(pcm))), True
    return speak(text, word_gaps_ms), False


def warm_up(script: SimulatorScript) -> None:
    """With ``speech.voice == "speech"``, load the real ear and voice in a background thread (no-op otherwise),
    so that the first turn is not slowed by loading the models."""
    if script.speech.voice != "speech":
        return

    def load() -> None:
        from mobkat.speech.shared import shared_ear, shared_voice

        voice, ear = shared_voice(), shared_ear()
        try:
            if voice is not None:
                voice.say("ready")
        except SpeechModelError as exc:
            _warn_once("voice", exc)
        try:
            if ear is not None:
                ear.hear(silence(1000))  # silence returns before the model: load it explicitly
                getattr(ear, "load", lambda: None)()
        except SpeechModelError as exc:
            _warn_once("ear", exc)

    threading.Thread(target=load, name="mobkat-speech-warm-up", daemon=True).start()


__all__ = ["Heard", "hear", "say", "wants_real_voice", "warm_up"]
