"""The benchmark suite runs end to end (``--quick --json``) and reports well-formed rows.

Structure only: speed targets live in the benchmarks' own ``met`` column, never in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from benchmarks.common import Row, Stats, Target, make_row, percentile, table

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "benchmarks" / "run.py"
REQUIRED = {"name", "unit", "mobkat", "baseline", "baseline_name", "ratio", "target"}
NAMES = ["routing.peer", "routing.peer_ask", "autogen.send_message", "autogen.publish_message", "spawn.mob50",
         "memory.idle_member", "live.frame_in", "live.frame_out", "live.agents_in", "live.agents_out",
         "live.agents_rpc_in", "live.agents_rpc_out", "live.barge_in", "live.density", "live.density_delay",
         "history.turn_100", "history.turn_100_added", "history.turn_1k", "history.turn_10k", "history.turn_50k",
         "history.turn_total_10k", "history.commit", "history.live_open_10k", "history.memory_10k"]
OPTIONAL = {"autogen.": "autogen_core", "live.agents_": "agents"}  # bench-extra baselines: absent when not installed


@pytest.mark.timeout(240)
def test_quick_json_run_reports_every_row() -> None:
    done = subprocess.run([sys.executable, str(RUN), "--quick", "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, check=False)  # structure only: a loaded CI machine is slow
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads(done.stdout)
    assert [row["name"] for row in rows] == NAMES
    for raw in rows:
        assert raw.keys() >= REQUIRED
        row = Row.model_validate(raw)
        counted = row.unit == "channels"  # density: the largest N that passed, which may be none (0)
        assert row.mobkat is not None and (row.mobkat >= 0 if counted else row.mobkat > 0) and row.runs > 0
        assert row.unit and row.baseline_name and row.target
        if row.baseline is None:  # only an uninstalled bench-extra baseline may be missing, and the row says why
            module = next(module for prefix, module in OPTIONAL.items() if row.name.startswith(prefix))
            assert find_spec(module) is None and "not installed" in row.note
            assert row.ratio is None and row.met is None
        elif counted:
            assert row.baseline >= 0
        else:
            assert row.baseline > 0 and row.ratio == pytest.approx(row.mobkat / row.baseline)
        assert row.mobkat_p99 is not None and (row.mobkat_p99 >= 0 if counted else row.mobkat_p99 > 0)


def test_only_runs_one_benchmark_and_list_names_them() -> None:
    listed = subprocess.run([sys.executable, str(RUN), "--list"], cwd=ROOT, capture_output=True, text=True,
                            timeout=30, check=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["routing", "autogen", "spawn", "memory", "live",
                                                                        "density", "history"]
    done = subprocess.run([sys.executable, str(RUN), "--quick", "--only", "spawn"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    body = [line for line in done.stdout.splitlines() if line.startswith("spawn.mob50")]
    assert len(body) == 1 and "routing" not in done.stdout


def test_percentile_interpolates_and_p99_is_the_slow_tail() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    rates = Stats.of([100.0, 90.0, 10.0], "higher")
    times = Stats.of([100.0, 90.0, 10.0], "lower")
    assert rates.median == times.median == 90.0
    assert rates.p99 == pytest.approx(11.6) and times.p99 == pytest.approx(99.8)  # the slow end of each


def test_rows_compute_ratio_and_target_and_render_in_one_table() -> None:
    fast = make_row("a.rate", "msg/s", Stats(50.0, 40.0, 3), Stats(100.0, 80.0, 3), "raw", Target("ratio", ">=", 0.5))
    slow = make_row("b.time", "ms", Stats(300.0, 310.0, 3), Stats(30.0, 31.0, 3), "raw",
                    Target("mobkat", "<=", 250, "ms"), note="a note")
    free = make_row("c.none", "msg/s", Stats(1.0, 1.0, 1), None, "missing", None)
    assert (fast.ratio, fast.met, fast.target) == (0.5, True, "ratio >= 0.5x")
    assert (slow.ratio, slow.met, slow.target) == (10.0, False, "mobkat <= 250 ms")
    assert (free.ratio, free.met, free.target) == (None, None, "-")
    lines = table([fast, slow, free]).splitlines()
    assert lines[0].split()[:3] == ["benchmark", "unit", "mobkat"]
    assert [line.split()[0] for line in lines[2:5]] == ["a.rate", "b.time", "c.none"]
    assert "NO" in lines[3] and lines[-1] == "[1] a note"
