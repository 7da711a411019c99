"""The input audio buffer of a realtime connection, with energy-based voice activity detection.

Audio is examined in 10 ms frames; a frame is speech when its RMS is at least
``threshold * 3277`` (so the default threshold 0.5 means about 5 % of full scale). Speech stops
after ``silence_duration_ms`` of non-speech frames; the committed audio then runs from
``prefix_padding_ms`` before the first speech frame to the end of that silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mobkat.audio import SAMPLE_RATE, SAMPLE_WIDTH, rms
from mobkat.simulator.session_config import TurnDetection

FRAME_SAMPLES = SAMPLE_RATE // 100  # 10 ms
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH
FULL_SCALE_RMS_PER_THRESHOLD = 3277.0
SILENT_FRAME = bytes(FRAME_BYTES)  # digital silence: RMS 0 without summing 240 squares in Python


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


@dataclass(frozen=True)
class VadEvent:
    """Speech started or stopped at ``at_ms`` (session audio time); ``audio`` is the committed turn.

    Like OpenAI, ``started`` includes the prefix padding and ``stopped`` the trailing silence.
    """

    kind: Literal["started", "stopped"]
    at_ms: int
    audio: bytes = b""


class InputAudioBuffer:
    """Audio appended since the last commit; positions count samples since the session began."""

    def __init__(self) -> None:
        self._audio = bytearray()
        self._start = 0  # session sample index of self._audio[0]
        self._scanned = 0  # session sample index up to which VAD has looked
        self._speech_start: int | None = None
        self._last_voice_end = 0

    @property
    def speaking(self) -> bool:
        return self._speech_start is not None

    @property
    def end(self) -> int:
        return self._start + len(self._audio) // SAMPLE_WIDTH

    @property
    def buffered_bytes(self) -> int:
        """PCM bytes held now (bounded by the connection: see ``mobkat.simulator.bounds``)."""
        return len(self._audio)

    def buffered_ms(self) -> int:
        return _ms(len(self._audio) // SAMPLE_WIDTH)

    def append(self, pcm: bytes, detection: TurnDetection | None) -> list[VadEvent]:
        """Add audio; with ``detection`` run VAD over the new whole frames and report speech turns."""
        self._audio.extend(pcm)
        if detection is None:
            self._scanned = self.end
            return []
        events: list[VadEvent] = []
        threshold = detection.threshold * FULL_SCALE_RMS_PER_THRESHOLD
        silence = _samples(detection.silence_duration_ms)
        while self._scanned + FRAME_SAMPLES <= self.end:
            frame_start = self._scanned
            offset = (frame_start - self._start) * SAMPLE_WIDTH
            frame = bytes(self._audio[offset : offset + FRAME_BYTES])
            loud = (rms(frame) if frame != SILENT_FRAME else 0.0) >= threshold
            self._scanned += FRAME_SAMPLES
            if loud:
                if self._speech_start is None:
                    self._speech_start = frame_start
                    padded = max(self._start, frame_start - _samples(detection.prefix_padding_ms))
                    events.append(VadEvent("started", _ms(padded)))
                self._last_voice_end = self._scanned
            elif self._speech_start is not None and self._scanned - self._last_voice_end >= silence:
                begin = max(self._start, self._speech_start - _samples(detection.prefix_padding_ms))
                events.append(VadEvent("stopped", _ms(self._scanned), self._cut(begin, self._scanned)))
                self._speech_start = None
        if self._speech_start is None:
            self._forget_before(self._scanned - _samples(detection.prefix_padding_ms))
        return events

    def commit(self) -> bytes:
        """Take everything buffered (explicit commit) and reset speech detection."""
        return self._cut(self._start, self.end)

    def clear(self) -> None:
        self._cut(self._start, self.end)

    def _cut(self, begin: int, end: int) -> bytes:
        """Audio from ``begin`` to ``end``; everything before ``end`` leaves the buffer."""
        lo = (begin - self._start) * SAMPLE_WIDTH
        hi = (end - self._start) * SAMPLE_WIDTH
        audio = bytes(self._audio[lo:hi])
        del self._audio[:hi]
        self._start = end
        self._scanned = max(self._scanned, end)
        self._speech_start = None
        return audio

    def _forget_before(self, sample: int) -> None:
        if sample > self._start:
            del self._audio[: (sample - self._start) * SAMPLE_WIDTH]
            self._start = sample
