"""How the simulator speaks a reply: codec audio, and when each character of it has been said."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from mobkat.audio import MS_PER_BYTE, encode_speech, silence


@dataclass(frozen=True)
class Speech:
    """``text`` as codec audio; ``ends_ms[i]`` is the audio time by which ``text[: i + 1]`` has been spoken."""

    text: str
    pcm: bytes
    ends_ms: Sequence[int]
    """Compact (an ``array`` of 4-byte ints): a long reply's timeline is kept as long as its item."""

    def said_by(self, ms: int) -> str:
        """The longest prefix of the text fully spoken within the first ``ms`` of the audio."""
        return self.text[: bisect.bisect_right(self.ends_ms, ms)]


def said_by(text: str, ends_ms: Sequence[int], ms: int) -> str:
    """``Speech.said_by`` for a transcript that may be shorter than the timeline (a cancelled reply)."""
    return text[: min(len(text), bisect.bisect_right(ends_ms, ms))]


def speak(text: str, word_gaps_ms: Sequence[int] = ()) -> Speech:
    """``text`` in the tone codec: 20 ms per UTF-8 byte.

    With ``word_gaps_ms``, each single space between two words is spoken as a pause instead of a
    tone, its length taken from ``word_gaps_ms`` in turn: the words decode the same (the codec joins
    segments with one space), but the time a character takes is no longer constant.
    """
    chunks: list[bytes] = []
    ends: list[int] = []
    at = 0
    gaps = 0
    last = len(text) - 1
    for index, char in enumerate(text):
        if (word_gaps_ms and char == " " and 0 < index < last
                and not text[index - 1].isspace() and not text[index + 1].isspace()):
            gap = word_gaps_ms[gaps % len(word_gaps_ms)]
            gaps += 1
            chunks.append(silence(gap))
            at += gap
        else:
            chunks.append(encode_speech(char))
            at += MS_PER_BYTE * len(char.encode("utf-8"))
        ends.append(at)
    return Speech(text, b"".join(chunks), array("I", ends))


__all__ = ["Speech", "said_by", "speak"]
