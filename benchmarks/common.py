"""What every benchmark shares: settings, interleaved repeats, medians and p99, the result row, table and JSON.

A row compares mobkat with a baseline measured in the same run: ``ratio`` is always
``mobkat / baseline`` (the unit says whether higher or lower is better). ``p99`` is the slow tail
of the repeated runs: the 99th percentile of a time or a size, the 1st percentile of a rate.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Settings:
    """How hard to run: ``quick`` (the smoke test and CI, well under a minute) or the full suite."""

    quick: bool = False

    def pick(self, quick: int, full: int) -> int:
        return quick if self.quick else full


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    """Median and slow-tail p99 of one measured series."""

    median: float
    p99: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float], better: Better) -> Stats:
        tail = percentile(samples, 1 if better == "higher" else 99)
        return cls(median=statistics.median(samples), p99=tail, runs=len(samples))


def timed(run: Callable[[], object]) -> float:
    """Seconds that ``run()`` took (garbage from earlier runs is collected first, outside the clock)."""
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def interleave(series: dict[str, Callable[[], float]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Run every series once per round, alternating, so drift (CPU heat, other load) hits all of them alike.

    Each callable returns one sample; the first ``warmup`` rounds are discarded.
    """
    samples: dict[str, list[float]] = {name: [] for name in series}
    for round_index in range(warmup + repeats):
        for name, run in series.items():
            value = run()
            if round_index >= warmup:
                samples[name].append(value)
    return samples


@dataclass(frozen=True)
class Target:
    """A goal, e.g. ``Target("ratio", ">=", 0.5)``, ``Target("mobkat", "<=", 5, "ms", stat="p99")``.

    ``on``: the ratio, mobkat's own figure, or ``added`` (mobkat minus the baseline, for latencies);
    ``stat``: whether the median or the p99 column must meet ``value``; ``tail``: for ``added``, a
    second bound that the p99s' difference must also meet.
    """

    on: Literal["ratio", "mobkat", "added"]
    op: Literal[">=", "<="]
    value: float
    unit: str = ""
    stat: Literal["median", "p99"] = "median"
    tail: float | None = None

    def text(self) -> str:
        suffix = "x" if self.on == "ratio" else (f" {self.unit}" if self.unit else "")
        stat = " p99" if self.stat == "p99" else ""
        tail = f", p99 {self.op} {self.tail:g}{suffix}" if self.tail is not None else ""
        return f"{self.on}{stat} {self.op} {self.value:g}{suffix}{tail}"

    def met(self, mobkat: Stats | None, baseline: Stats | None, ratio: float | None) -> bool | None:
        checks: list[tuple[float | None, float]]
        if self.on == "ratio":
            checks = [(ratio, self.value)]
        elif self.on == "mobkat":
            checks = [(None if mobkat is None else mobkat.p99 if self.stat == "p99" else mobkat.median, self.value)]
        elif mobkat is None or baseline is None:
            checks = [(None, self.value)]
        else:
            checks = [(mobkat.median - baseline.median, self.value)]
            if self.tail is not None:
                checks.append((mobkat.p99 - baseline.p99, self.tail))
        if any(value is None for value, _ in checks):
            return None
        return all(value >= bound if self.op == ">=" else value <= bound
                   for value, bound in checks if value is not None)


class Row(BaseModel):
    """One result line (the ``--json`` wire shape). ``mobkat``/``baseline`` are medians."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    unit: str
    mobkat: float | None
    baseline: float | None
    baseline_name: str
    ratio: float | None
    target: str
    met: bool | None
    mobkat_p99: float | None
    baseline_p99: float | None
    runs: int
    note: str = ""


def make_row(name: str, unit: str, mobkat: Stats | None, baseline: Stats | None, baseline_name: str,
             target: Target | None, note: str = "") -> Row:
    """A row from two measured series; ``target=None`` for an informational row (``target`` is "-")."""
    ratio = mobkat.median / baseline.median if mobkat and baseline and baseline.median else None
    mobkat_median = mobkat.median if mobkat else None
    return Row(name=name, unit=unit, mobkat=mobkat_median, baseline=baseline.median if baseline else None,
               baseline_name=baseline_name, ratio=ratio, target=target.text() if target else "-",
               met=target.met(mobkat, baseline, ratio) if target else None,
               mobkat_p99=mobkat.p99 if mobkat else None, baseline_p99=baseline.p99 if baseline else None,
               runs=mobkat.runs if mobkat else 0, note=note)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


COLUMNS = ("benchmark", "unit", "mobkat", "p99", "baseline", "p99", "baseline is", "ratio", "target", "met")


def table(rows: Sequence[Row]) -> str:
    """All rows as one plain-text table (notes follow it, numbered)."""
    cells = [list(COLUMNS)]
    notes: list[str] = []
    for row in rows:
        met = {True: "yes", False: "NO", None: "-"}[row.met]
        name = row.name
        if row.note:
            notes.append(row.note)
            name = f"{name} [{len(notes)}]"
        cells.append([name, row.unit, fmt(row.mobkat), fmt(row.mobkat_p99), fmt(row.baseline), fmt(row.baseline_p99),
                      row.baseline_name, fmt(row.ratio), row.target, met])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    numeric = {2, 3, 4, 5, 7}
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                               for i, cell in enumerate(line)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines)


def to_json(rows: Sequence[Row]) -> str:
    return json.dumps([row.model_dump(mode="json") for row in rows], indent=2)


def machine() -> str:
    """CPUs, CPU model, Python version and load average: what a table must be read with."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    except OSError:
        pass
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{os.cpu_count()} CPUs ({model}), {python}, load average {load}"
