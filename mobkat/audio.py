"""PCM16 audio helpers and a deterministic "speech" codec (no mobkat imports).

Audio everywhere in mobkat is what OpenAI Realtime uses: signed 16-bit little-endian PCM,
24 kHz, mono. The codec turns text into tones and back so that the simulator can "hear" what a
test "says" and tests can check exactly what the simulator "said":

* each UTF-8 byte becomes two 10 ms tones (high nibble, then low nibble);
* nibble ``k`` is a cosine at ``600 + 200 * k`` Hz (600 ... 3600 Hz), starting at its peak;
* so 1 byte = 20 ms of audio, and ``ms`` of audio carry ``ms // 20`` bytes of text.

Decoding correlates every 240-sample window with the 16 tones (a DFT bin per tone, like
Goertzel) after aligning on the first sample above :data:`ONSET_THRESHOLD`. Runs of silence
separate segments; decoded segments are joined with a single space. Up to :data:`RING_MS` of faint
resampler ringing after a segment's last tone (what a browser's 24→48→24 kHz path leaves) is ignored.
"""

from __future__ import annotations

import math
import struct
import sys
import wave
from array import array
from operator import mul, ne
from pathlib import Path

SAMPLE_RATE = 24000
CHANNELS = 1
SAMPLE_WIDTH = 2

TONE_MS = 10
TONE_SAMPLES = SAMPLE_RATE * TONE_MS // 1000  # 240
MS_PER_BYTE = 2 * TONE_MS  # 20 ms per UTF-8 byte
BASE_HZ = 600
STEP_HZ = 200
TONE_AMPLITUDE = 16000
ONSET_THRESHOLD = 4000  # a segment starts at the first sample louder than this
SILENCE_RMS = 1000.0  # a window quieter than this ends a segment

_FREQS = tuple(BASE_HZ + STEP_HZ * k for k in range(16))
_DECIMATE = 3  # correlate on every 3rd sample: 8 kHz still resolves 3.6 kHz tones exactly
_WIN = TONE_SAMPLES // _DECIMATE  # 80 points, an integer number of cycles for every tone
_MIN_TONALITY = 0.7  # share of a window's energy that must sit in its strongest tone
RING_MS = 30  # resampler ringing after a segment's last tone is tolerated this long (a browser's path: ~20 ms)
RING_SAMPLES = SAMPLE_RATE * RING_MS // 1000
FAINT = 0.25  # ringing carries less than this share of the tones' energy per sample


def _tone(k: int) -> array[int]:
    w = 2 * math.pi * _FREQS[k] / SAMPLE_RATE
    return array("h", (round(TONE_AMPLITUDE * math.cos(w * n)) for n in range(TONE_SAMPLES)))


_TONES = tuple(_tone(k) for k in range(16))


def _le_bytes(samples: array[int]) -> bytes:
    if sys.byteorder != "little":
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


_TONE_PCM = tuple(_le_bytes(t) for t in _TONES)
_REF_COS = tuple(tuple(math.cos(2 * math.pi * f * n * _DECIMATE / SAMPLE_RATE) for n in range(_WIN)) for f in _FREQS)
_REF_SIN = tuple(tuple(math.sin(2 * math.pi * f * n * _DECIMATE / SAMPLE_RATE) for n in range(_WIN)) for f in _FREQS)


class WavFormatError(ValueError):
    """A WAV file is not 16-bit mono 24 kHz PCM; the message names the file and the problem."""


def samples(pcm: bytes) -> array[int]:
    """The signed 16-bit samples of little-endian ``pcm`` (an odd trailing byte is ignored)."""
    out = array("h")
    out.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder != "little":
        out.byteswap()
    return out


def silence(ms: int) -> bytes:
    """``ms`` milliseconds of digital silence."""
    return bytes(SAMPLE_WIDTH * (SAMPLE_RATE * max(ms, 0) // 1000))


def duration_ms(pcm: bytes) -> int:
    """Duration of ``pcm`` in whole milliseconds."""
    return (len(pcm) // SAMPLE_WIDTH) * 1000 // SAMPLE_RATE


def bytes_for_ms(ms: int) -> int:
    """Number of PCM bytes in ``ms`` milliseconds (whole samples)."""
    return SAMPLE_WIDTH * (SAMPLE_RATE * max(ms, 0) // 1000)


def rms(pcm: bytes) -> float:
    """Root mean square amplitude of ``pcm`` (0.0 for empty audio)."""
    data = samples(pcm)
    if not data:
        return 0.0
    return math.sqrt(sum(map(mul, data, data)) / len(data))


def encode_speech(text: str, *, lead_ms: int = 0, tail_ms: int = 0) -> bytes:
    """Speak ``text`` in the codec: 20 ms of tones per UTF-8 byte, with optional silence around it."""
    parts = [silence(lead_ms)]
    for byte in text.encode("utf-8"):
        parts.append(_TONE_PCM[byte >> 4])
        parts.append(_TONE_PCM[byte & 0x0F])
    parts.append(silence(tail_ms))
    return b"".join(parts)


def chars_for_ms(ms: int) -> int:
    """How many bytes of codec text ``ms`` of speech carries (= characters, for ASCII text)."""
    return max(ms, 0) // MS_PER_BYTE


def ms_for_chars(n: int) -> int:
    """How long ``n`` bytes of codec text take to speak (= characters, for ASCII text)."""
    return max(n, 0) * MS_PER_BYTE


def heard_prefix(text: str, ms: int) -> str:
    """The longest prefix of ``text`` fully spoken within the first ``ms`` of its codec audio."""
    budget = chars_for_ms(ms)
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode("utf-8"))
        if used > budget:
            return text[:index]
    return text


def _window_nibble(window: array[int]) -> int | None:
    """The nibble a 240-sample window carries, -1 if the window is silent, None if it is not a tone.

    Zero crossings pick the candidate tone (tone ``k`` has ``12 + 4k`` per window); DFT bins around
    it must then hold most of the window's energy, which rejects noise and chords.
    """
    points = window[::_DECIMATE]
    energy = sum(map(mul, points, points))
    if energy < SILENCE_RMS * SILENCE_RMS * len(points):
        return -1
    signs = [value < 0 for value in window]
    guess = round((sum(map(ne, signs, signs[1:])) - 12) / 4)
    best, best_power = -1, 0.0
    for k in range(max(guess - 1, 0), min(guess + 2, 16)):
        c = sum(map(mul, points, _REF_COS[k]))
        s = sum(map(mul, points, _REF_SIN[k]))
        power = c * c + s * s
        if power > best_power:
            best, best_power = k, power
    # a pure tone over whole cycles puts (N/2) * energy into its bin
    if best < 0 or best_power < _MIN_TONALITY * energy * _WIN / 2:
        return None
    return best


def _is_silent(data: array[int]) -> bool:
    return not data or rms(_le_bytes(data)) < SILENCE_RMS


def _power(data: array[int]) -> float:
    """Mean energy per sample."""
    return sum(map(mul, data, data)) / len(data) if data else 0.0


def _next_onset(data: array[int], start: int) -> int:
    for index in range(start, len(data)):
        value = data[index]
        if value > ONSET_THRESHOLD or value < -ONSET_THRESHOLD:
            return index
    return -1


def _rings_out(data: array[int], end: int, tone_power: float) -> bool:
    """True if the sound after a segment's last tone at ``end`` is resampler ringing: fainter than the
    tones and silent (or over) within :data:`RING_MS`."""
    tail = data[end : end + RING_SAMPLES]
    if _power(tail) > FAINT * tone_power:
        return False
    after = data[end + RING_SAMPLES : end + RING_SAMPLES + TONE_SAMPLES]
    return _is_silent(after)


def _segment(data: array[int], start: int) -> tuple[str | None, int]:
    """Decode the segment whose first tone starts at ``start``: its text (None if it is not codec
    speech) and where it ends. Ringing after the last tone (a browser's resamplers leave ~20 ms) is
    tolerated; a loud partial tone at the very end is not."""
    nibbles: list[int] = []
    loudest = 0.0
    last_power = 0.0
    position = start
    clean = False
    while position + TONE_SAMPLES <= len(data):
        window = data[position : position + TONE_SAMPLES]
        nibble = _window_nibble(window)
        if nibble is None:
            break
        if nibble < 0:
            clean = True
            break
        nibbles.append(nibble)
        last_power = _power(window)
        loudest = max(loudest, last_power)
        position += TONE_SAMPLES
    else:
        clean = _is_silent(data[position:])
    if len(nibbles) % 2 and last_power < FAINT * loudest:  # ringing of the last tone, read as one more tone
        nibbles.pop()
        position -= TONE_SAMPLES
        clean = False
    if not clean and not _rings_out(data, position, loudest):
        return None, position
    if not nibbles or len(nibbles) % 2:
        return None, position
    raw = bytes((hi << 4) | lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=True))
    try:
        return raw.decode("utf-8"), position
    except UnicodeDecodeError:
        return None, position


def decode_speech(pcm: bytes) -> str | None:
    """The text spoken in codec audio ``pcm``, or None if it is not (only) valid codec speech."""
    data = samples(pcm)
    segments: list[str] = []
    ring_end = 0  # until here, a loud sample after the previous segment may be its ringing, not speech
    position = _next_onset(data, 0)
    while position >= 0:
        text, end = _segment(data, position)
        if text is None:
            if position >= ring_end:
                return None
            position = _next_onset(data, position + 1)
            continue
        segments.append(text)
        ring_end = end + RING_SAMPLES
        position = _next_onset(data, end)
    if not segments:
        return None
    return " ".join(segments)


def describe_unintelligible(pcm: bytes) -> str:
    """What a listener reports for audio that is not codec speech."""
    return f"[unintelligible audio, {duration_ms(pcm)} ms]"


def transcribe(pcm: bytes) -> str:
    """``decode_speech`` with the unintelligible fallback description."""
    text = decode_speech(pcm)
    return text if text is not None else describe_unintelligible(pcm)


def read_wav(path: str | Path) -> bytes:
    """PCM frames of a 16-bit mono 24 kHz WAV file; :class:`WavFormatError` names any mismatch."""
    try:
        with wave.open(str(path), "rb") as wav:
            problems = []
            if wav.getsampwidth() != SAMPLE_WIDTH:
                problems.append(f"sample width is {8 * wav.getsampwidth()} bits, expected 16")
            if wav.getnchannels() != CHANNELS:
                problems.append(f"has {wav.getnchannels()} channels, expected 1 (mono)")
            if wav.getframerate() != SAMPLE_RATE:
                problems.append(f"sample rate is {wav.getframerate()} Hz, expected {SAMPLE_RATE}")
            if problems:
                raise WavFormatError(f"{path}: {'; '.join(problems)}")
            return wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{path}: not a readable PCM WAV file ({exc})") from exc


def load_wav(path: str | Path) -> bytes:
    """PCM16 24 kHz mono frames of any PCM WAV file (8/16/24/32-bit, any rate, any channel count).

    Channels are averaged to mono and the rate is converted with python-soxr (libsoxr, "HQ");
    a 16-bit mono 24 kHz file is returned as is. :class:`WavFormatError` names the file and problem.
    """
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise WavFormatError(f"{path}: not a readable PCM WAV file ({exc})") from exc
    if (width, channels, rate) == (SAMPLE_WIDTH, CHANNELS, SAMPLE_RATE):
        return frames
    if width not in (1, 2, 3, 4):
        raise WavFormatError(f"{path}: sample width is {8 * width} bits; 8, 16, 24 or 32-bit PCM is supported")
    if rate <= 0 or channels <= 0:
        raise WavFormatError(f"{path}: bad header ({channels} channels at {rate} Hz)")
    import numpy as np  # numpy and soxr load only when a file needs converting
    import soxr

    raw = np.frombuffer(frames[: len(frames) - len(frames) % (width * channels)], dtype=np.uint8)
    if width == 1:  # 8-bit WAV is unsigned
        values = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 3:  # 24-bit: place the three bytes in the top of an int32
        padded = np.zeros((raw.size // 3, 4), dtype=np.uint8)
        padded[:, 1:] = raw.reshape(-1, 3)
        values = padded.view("<i4").reshape(-1).astype(np.float32) / 2.0**31
    else:
        dtype = "<i2" if width == 2 else "<i4"
        values = raw.view(dtype).astype(np.float32) / float(2 ** (8 * width - 1))
    mono = values.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    converted = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ") if rate != SAMPLE_RATE else mono
    pcm16 = np.clip(np.rint(converted * 32768.0), -32768, 32767).astype("<i2")
    return bytes(pcm16.tobytes())


def write_wav(path: str | Path, pcm: bytes) -> None:
    """Write ``pcm`` (16-bit mono 24 kHz) as a WAV file."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)


def pack_samples(values: list[int]) -> bytes:
    """Little-endian PCM16 bytes of ``values`` (clipped to the 16-bit range)."""
    return struct.pack(f"<{len(values)}h", *(max(-32768, min(32767, v)) for v in values))
