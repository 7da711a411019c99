"""Drive the browser console in headless Chromium and save a screenshot (the one in docs/console.md).

Starts mobs/live-demo.toml offline (the simulator stands in for OpenAI), serves its console, opens it
in Chromium with a fake microphone that plays a spoken question, clicks the host's talk button, waits
until the host has asked the researcher and spoken the answer, types a line to the researcher, and
saves the page. Needs Chromium (``apt-get install chromium``) and Playwright (``pip install
'mobkat[console]'``; no ``playwright install``: it drives the system's Chromium).

    python examples/console_screenshot.py --out docs/console.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from mobkat.audio import encode_speech, silence, write_wav
from mobkat.console import Console
from mobkat.mob import Mob

DEMO = Path(__file__).resolve().parents[1] / "mobs" / "live-demo.toml"
QUESTION = "Ask the researcher: what do meerkats eat?"


def capture(out: Path, chromium: str = "/usr/bin/chromium") -> Path:
    """Run the scene and write the screenshot to ``out``; returns ``out``."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="mobkat-console-") as tmp, \
            Mob.from_toml(DEMO, simulator=True) as mob:
        wav = Path(tmp) / "question.wav"
        speech = silence(1000) + encode_speech(QUESTION)
        write_wav(wav, speech + silence(1500))
        mob.spawn_members()
        mob.wait_for_event(lambda e: e.type == "live_opened", timeout=20)
        mob.wait_idle(20)
        with Console(mob) as console, sync_playwright() as pw:
            print(f"console: {console.url}")
            browser = pw.chromium.launch(executable_path=chromium, args=[
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 820})
            page.set_default_timeout(20_000)
            page.goto(console.url)
            page.wait_for_selector("[data-testid=member-host][data-status=idle]")
            page.click("[data-testid=talk-host]")
            speech_ms = len(speech) * 1000 // 48000
            page.wait_for_function("ms => Number(document.querySelector('[data-testid=member-host]')"
                                   ".dataset.sentMs || 0) >= ms", arg=speech_ms)
            try:
                page.locator("[data-testid=transcript-host] p.user", has_text=QUESTION).wait_for()  # heard
                page.click("[data-testid=talk-host]")
                page.locator("[data-testid=transcript-host] p.assistant", has_text="researcher says").wait_for()
            except Exception:
                print("the scene did not play out; the page shows:\n" + page.inner_text("main"))
                raise
            page.fill("[data-testid=say-researcher]", "Which animals live with meerkats?")
            page.press("[data-testid=say-researcher]", "Enter")
            page.locator("[data-testid=transcript-researcher] p.assistant",
                         has_text="Which animals live with meerkats?").wait_for()
            page.wait_for_function("() => document.querySelector('[data-testid=member-host]')"
                                   ".dataset.playing === 'false'")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    print(f"wrote {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/console.png"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    capture(args.out, args.chromium)


if __name__ == "__main__":
    main()
