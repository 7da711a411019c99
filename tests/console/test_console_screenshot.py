"""examples/console_screenshot.py drives the console end to end and saves a real screenshot (docs/console.png)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.console.conftest import CHROMIUM, ROOT


def test_the_screenshot_example_saves_a_png(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("the console's browser tests need Chromium at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="the console's browser tests need playwright")
    out = tmp_path / "shots" / "console.png"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.run([sys.executable, "examples/console_screenshot.py", "--out", str(out),
                           "--chromium", CHROMIUM], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000  # a rendered page, not an empty canvas
