"""Fixtures for the browser console tests: a live-demo mob, its console, and headless Chromium with a fake mic.

The microphone plays ONE WAV (:func:`spoken`); a real-speech variant only has to swap that fixture.
Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright; the tests skip when it is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mobkat.audio import encode_speech, silence, write_wav
from mobkat.console import Console
from mobkat.mob.mob import Mob

ROOT = Path(__file__).parents[2]
LIVE_DEMO = ROOT / "mobs" / "live-demo.toml"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SPOKEN_TEXT = "please tell me a long story about a lighthouse keeper"


@dataclass(frozen=True)
class Spoken:
    """What the fake microphone says: the WAV file and the words in it."""

    wav: Path
    text: str
    speech_ms: int  # where the words end in the file (the rest is silence)


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Spoken:
    """The one WAV the fake microphone plays (tone-codec speech: the simulator hears its exact words)."""
    speech = silence(1000) + encode_speech(SPOKEN_TEXT)  # a pause before the words, as people do
    path = tmp_path_factory.mktemp("mic") / "spoken.wav"
    write_wav(path, speech + silence(1500))
    return Spoken(path, SPOKEN_TEXT, len(speech) * 1000 // 48000)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright per test module: its sync API cannot run twice at once in a process, and while it
    runs the main thread has a running event loop (so it must end before other areas' ``asyncio.run``)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("the console's browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the console's browser tests need playwright")
    with sync_api.sync_playwright() as pw:
        yield pw


def launch_with_microphone(playwright: Any, wav: Path) -> Any:
    """Headless Chromium whose fake microphone plays ``wav`` once."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"])


@pytest.fixture(scope="module")
def browser(playwright: Any, spoken: Spoken) -> Iterator[Any]:
    chromium = launch_with_microphone(playwright, spoken.wav)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def mob() -> Iterator[Mob]:
    with Mob.from_toml(LIVE_DEMO, simulator=True) as running:
        assert running.simulator is not None
        running.spawn_members()
        running.wait_for_event(lambda e: e.type == "live_opened", timeout=20)
        running.wait_idle(20)
        running.simulator.set_pace(1.0)  # from now on speech streams in real time: there is a middle to barge into
        yield running


@pytest.fixture
def console(mob: Mob) -> Iterator[Console]:
    with Console(mob) as serving:
        yield serving


@pytest.fixture
def page(browser: Any, console: Console) -> Iterator[Any]:
    # bypass_csp: the page's CSP forbids eval, which Playwright's wait_for_function uses
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(console.url)
    tab.wait_for_selector("body[data-connected=true]")
    tab.wait_for_selector("[data-testid=member-host][data-status=idle]")
    try:
        yield tab
    finally:
        context.close()
