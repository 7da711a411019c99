"""``mobkat run FILE --web``: a subprocess prints the console's URL, serves it, and stops on SIGTERM."""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mobkat.console.address import parse_web_address
from tests.console.conftest import ROOT


def test_web_addresses() -> None:
    assert parse_web_address("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_web_address(":8765") == ("127.0.0.1", 8765)
    assert parse_web_address("8765") == ("127.0.0.1", 8765)
    assert parse_web_address("0.0.0.0") == ("0.0.0.0", 0)
    assert parse_web_address("[::1]:9000") == ("::1", 9000)
    for bad in ("host:port", "127.0.0.1:70000", "[]:80"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_web_address(bad)


def test_run_with_web_prints_a_url_that_serves_the_console(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "mobkat", "run", "mobs/live-demo.toml", "--web",
                             "--state-root", str(tmp_path / "state"), "--out", str(tmp_path / "out")],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:  # ends when the process does: no fixed wait
            lines.append(line)
            if "the console keeps serving" in line:
                break
        url = next(m[1] for m in (re.search(r"\[web\] console: (\S+)", x) for x in lines) if m)
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        with urllib.request.urlopen(url, timeout=5) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url.split("?")[0], timeout=5)
        assert refused.value.code == 401
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "[mob] interrupted; stopping" in out
    assert "histories:" in out
