"""What an ear and a voice are: PCM16 mono 24 kHz audio in, text out; text in, audio out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Ear(Protocol):
    """Hears speech: PCM16 mono 24 kHz audio to text, or None when nothing intelligible was said."""

    name: str

    def hear(self, pcm: bytes) -> str | None:
        """The words spoken in ``pcm`` (never raises on hostile audio: silence, noise, any length)."""
        ...


@runtime_checkable
class Voice(Protocol):
    """Speaks text: the same text always gives the same PCM16 mono 24 kHz audio."""

    name: str

    def say(self, text: str) -> bytes:
        """``text`` spoken as PCM16 mono 24 kHz (empty for text with nothing to say)."""
        ...


__all__ = ["Ear", "Voice"]
