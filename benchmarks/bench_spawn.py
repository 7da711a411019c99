"""Spawning and memory: how fast a 50-member mob is ready, and the RSS an idle member costs.

``spawn.mob50``: on a started, simulator-backed ``Mob`` (supervisor running, no members), the time until
``Mob.spawn`` has returned for 50 ``turn_driven`` members (no kickoff message, so no model call) and
every one of them has answered ``mob.member(name).info()``. Baseline: start 50 bare pykka
``ThreadingActor``s and ask each once.

``memory.idle_member``: in a fresh child process (so nothing else in the process moves its RSS), the
resident set size (``/proc/self/statm``) before and after spawning N idle members as above, after one
warm-up member and a garbage collection; the figure is the delta / N. Baseline: the same for N bare
pykka actors.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import pykka

from benchmarks.common import Row, Settings, Stats, Target, interleave, make_row

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = 50
Kind = Literal["mobkat", "pykka"]


def _definition() -> Any:
    from mobkat.mob import MobDefinition

    return MobDefinition.from_dict({"id": "bench-spawn", "profiles": {
        "worker": {"model": "gpt-5.5", "runtime_mode": "turn_driven"}}})


class _Idle(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> Any:
        return "ready"


def mob_ready_seconds(members: int) -> float:
    """Seconds until ``members`` members are spawned in a started mob and have all answered ``info()``."""
    from mobkat.mob import Mob

    with Mob(_definition(), simulator=True) as mob:
        gc.collect()
        start = time.perf_counter()
        names = [mob.spawn("worker", f"w{i}") for i in range(members)]
        for name in names:
            mob.member(name).info()
        elapsed = time.perf_counter() - start
        if len(mob.members()) != members:
            raise RuntimeError(f"spawned {len(mob.members())} of {members} members")
    return elapsed


def pykka_ready_seconds(members: int) -> float:
    """Seconds to start ``members`` bare pykka actors and have each answer one ask."""
    gc.collect()
    start = time.perf_counter()
    refs = [_Idle.start() for _ in range(members)]
    for ref in refs:
        ref.ask("ready?", block=True, timeout=30)
    elapsed = time.perf_counter() - start
    for ref in refs:
        ref.stop()
    return elapsed


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def rss_per_member(kind: Kind, members: int) -> float:
    """(In the child process.) RSS bytes added per idle member (or bare actor), after a warm-up one."""
    if kind == "pykka":
        warm = _Idle.start()
        warm.ask("ready?", block=True, timeout=30)
        gc.collect()
        before = rss_bytes()
        refs = [_Idle.start() for _ in range(members)]
        for ref in refs:
            ref.ask("ready?", block=True, timeout=30)
        gc.collect()
        after = rss_bytes()
        pykka.ActorRegistry.stop_all()
        return (after - before) / members
    from mobkat.mob import Mob

    with Mob(_definition(), simulator=True) as mob:
        mob.spawn("worker", "warm")
        mob.member("warm").info()
        gc.collect()
        before = rss_bytes()
        names = [mob.spawn("worker", f"w{i}") for i in range(members)]
        for name in names:
            mob.member(name).info()
        gc.collect()
        after = rss_bytes()
    return (after - before) / members


def child_kib(kind: Kind, members: int) -> float:
    """Run :func:`rss_per_member` in a fresh interpreter; KiB per member."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "benchmarks.bench_spawn", kind, str(members)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory child ({kind}) failed: {done.stderr.strip()[-2000:]}")
    per_member: float = json.loads(done.stdout.strip().splitlines()[-1])["bytes_per_member"]
    return per_member / 1024


def run(settings: Settings) -> list[Row]:
    spawn = interleave({
        "pykka": lambda: 1000 * pykka_ready_seconds(MEMBERS),
        "mobkat": lambda: 1000 * mob_ready_seconds(MEMBERS),
    }, repeats=settings.pick(3, 10))
    return [make_row("spawn.mob50", "ms", Stats.of(spawn["mobkat"], "lower"), Stats.of(spawn["pykka"], "lower"),
                     f"{MEMBERS} bare pykka actors", Target("mobkat", "<=", 250, "ms"),
                     note=f"{MEMBERS} turn_driven members: Mob.spawn returned for all and each answered info()")]


def run_memory(settings: Settings) -> list[Row]:
    idle = settings.pick(50, 200)
    memory = interleave({
        "pykka": lambda: child_kib("pykka", idle),
        "mobkat": lambda: child_kib("mobkat", idle),
    }, repeats=settings.pick(2, 5), warmup=0)
    return [make_row("memory.idle_member", "KiB", Stats.of(memory["mobkat"], "lower"),
                     Stats.of(memory["pykka"], "lower"), "bare pykka actor", Target("mobkat", "<=", 2048, "KiB"),
                     note=f"RSS delta / {idle} idle members, each sample in a fresh child process")]


def _child(argv: list[str]) -> int:
    kind, members = argv[0], int(argv[1])
    if kind not in ("mobkat", "pykka"):
        raise SystemExit(f"usage: python -m benchmarks.bench_spawn mobkat|pykka MEMBERS (not {kind!r})")
    os.environ["MOBKAT_SIMULATOR"] = "1"
    per_member = rss_per_member("mobkat" if kind == "mobkat" else "pykka", members)
    print(json.dumps({"kind": kind, "members": members, "bytes_per_member": per_member}))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
