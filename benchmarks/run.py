"""Run mobkat's benchmarks and print one table (or ``--json`` rows): ``python benchmarks/run.py [--quick]``.

Adding a benchmark: write ``benchmarks/bench_<name>.py`` with ``run(settings) -> list[Row]`` (see
``benchmarks/common.py``) and add one entry to :data:`BENCHMARKS`. docs/performance.md says what each row measures.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` and ``mobkat`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.common import Row, Settings, machine, table, to_json  # noqa: E402


@dataclass(frozen=True)
class Benchmark:
    """One registry entry: ``benchmarks.<module>.<function>(settings) -> list[Row]``, imported when run."""

    module: str
    about: str
    function: str = "run"

    def load(self) -> Callable[[Settings], list[Row]]:
        runner: Callable[[Settings], list[Row]] = getattr(importlib.import_module(f"benchmarks.{self.module}"),
                                                          self.function)
        return runner


BENCHMARKS: dict[str, Benchmark] = {
    "routing": Benchmark("bench_routing", "peer messages/s through a Mob vs raw pykka tell and ask"),
    "autogen": Benchmark("bench_autogen", "peer messages/s through a Mob vs AutoGen core (the bench extra)"),
    "spawn": Benchmark("bench_spawn", "time until a 50-member mob is ready vs 50 bare pykka actors"),
    "memory": Benchmark("bench_spawn", "RSS per idle member vs per bare pykka actor (child processes)",
                        function="run_memory"),
    "live": Benchmark("bench_live", "live frame latency and barge-in through mobkat rpc --live-ws vs the openai "
                                    "SDK and openai-agents straight to the simulator"),
    "density": Benchmark("bench_density", "live channels one mobkat rpc process carries in real time (p99 < 40 ms)"),
    "history": Benchmark("bench_history", "turn, live-seed and memory cost at 100 .. 50,000 history rows vs "
                                          "json.dumps of the request"),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs (finishes within a minute)")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list instead of a table")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), help="run one benchmark")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.list:
        for name, bench in BENCHMARKS.items():
            print(f"{name:10s} {bench.about}")
        return 0
    os.environ["MOBKAT_SIMULATOR"] = "1"  # never reach a real provider, whatever the environment says
    settings = Settings(quick=args.quick)
    names = [args.only] if args.only else list(BENCHMARKS)
    rows: list[Row] = []
    started = time.perf_counter()
    print(f"machine: {machine()}", file=sys.stderr)
    for name in names:
        began = time.perf_counter()
        rows += BENCHMARKS[name].load()(settings)
        print(f"{name}: {time.perf_counter() - began:.1f} s", file=sys.stderr)
    if args.json:
        print(to_json(rows), flush=True)
    else:
        print(table(rows), flush=True)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s; load average at the end "
          f"{load}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
