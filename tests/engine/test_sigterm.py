"""A process on Ray stops cleanly after SIGTERM however long its stop takes: Ray's failure-signal handler arms a
3-second abort on SIGTERM (ray-project/ray#64830); mobkat cancels it, so a slow stop (a busy machine) is no
longer a SIGABRT."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_stop_slower_than_rays_abort_timer_still_exits_0(where: str) -> None:
    child = subprocess.run([sys.executable, str(ROOT / "tests" / "engine" / "sigterm_child.py"), where],
                           cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert child.returncode == 0, child.stderr[-3000:]
    assert child.stdout.splitlines() == ["joined", "stopped cleanly"]
