"""The Ray engine on a two-node cluster on this machine: routing across nodes, spawning 100 members, memory.

Run: ``python -m benchmarks.bench_ray [--quick] [--json]`` (needs ``pip install 'mobkat[ray]'``). It starts its
own two-node ``ray.cluster_utils.Cluster`` on 127.0.0.1 (node ``near`` is the head, node ``far`` the second)
and shuts it down at the end, whatever happens.

- ``ray.routing.peer``: a mob (defined below) with a ``sender`` member pinned to ``near`` and, per run, a fresh
  ``receiver`` pinned to ``far`` (``[profiles.X.placement] resources``). ``Mob.send_peer_nowait`` N messages,
  then ``Mob.wait_idle()``: the window runs from the first send until every message was **delivered and consumed
  by a committed turn** on the far node (turns coalesce a queued burst; the simulator answers them). Baselines
  in the same run: the same mob in-process (engine ``local``), and Ray's own fire-and-forget actor calls from an
  actor on ``near`` to one on ``far`` (N ``.remote()`` calls, then one ``ray.get`` on the receiver's count).
- ``ray.routing.peer_ask``: ``Mob.send_peer`` (one round trip per message to the head: **routed**, acknowledged
  by the supervisor), against a synchronous Ray actor call round trip across the nodes.
- ``ray.spawn.100``: wall time until 100 members are spawned over the two nodes (no placement pins: least
  loaded node wins) and each answered ``info()``; how they spread is in the note. Baseline: the same 100 in-process.
- ``ray.memory.member``: RSS (``/proc/<pid>/status`` VmRSS) of this cluster's member-host processes (the
  workers titled ``ray::MemberHost`` under this cluster's raylets) before and after the 100 members, / 100,
  after one warm-up member per node. Baseline: the in-process member measured the same way
  (``bench_spawn``'s child process: RSS delta / 100 after a warm-up member).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before Ray is imported: loopback, no 8.8.8.8 probe
os.environ["MOBKAT_SIMULATOR"] = "1"  # never reach a real provider

from benchmarks.bench_spawn import child_kib
from benchmarks.common import Row, Settings, Stats, interleave, machine, make_row, table, to_json

LOOPBACK = "127.0.0.1"
SPAWN = 100
Mode = Literal["tell", "ask"]

MOB_TOML = """
[mob]
id = "bench_ray"

[profiles.sender]
model = "gpt-5.5"
runtime_mode = "turn_driven"
[profiles.sender.placement]
resources = { near = 1 }

[profiles.receiver]
model = "gpt-5.5"
runtime_mode = "turn_driven"
[profiles.receiver.placement]
resources = { far = 1 }

[profiles.worker]
model = "gpt-5.5"
runtime_mode = "turn_driven"

[[wiring.role_wiring]]
a = "sender"
b = "receiver"
"""


# -- Ray's own actor calls: the baseline ---------------------------------------------------------------------
class Sink:
    """Counts what it is told."""

    def __init__(self) -> None:
        self.count = 0

    def take(self, body: str) -> None:
        self.count += 1

    def taken(self) -> int:
        return self.count

    def pid(self) -> int:
        return os.getpid()


class Source:
    """Calls a :class:`Sink` on another node: N fire-and-forget calls, or N synchronous round trips."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink

    def blast(self, messages: int, mode: str) -> float:
        import ray

        bodies = [f"message {i}" for i in range(messages)]
        before: int = ray.get(self.sink.taken.remote())
        start = time.perf_counter()
        if mode == "tell":
            for body in bodies:
                self.sink.take.remote(body)
        else:
            for body in bodies:
                ray.get(self.sink.take.remote(body))
        taken: int = ray.get(self.sink.taken.remote())  # calls from one caller run in order
        elapsed = time.perf_counter() - start
        if taken - before != messages:
            raise RuntimeError(f"Ray sink took {taken - before} of {messages} calls")
        return elapsed

    def pid(self) -> int:
        return os.getpid()


class RawRay:
    """A Source on ``near`` calling a Sink on ``far``."""

    def __init__(self) -> None:
        import ray

        self.sink: Any = ray.remote(Sink).options(num_cpus=0, resources={"far": 0.01}).remote()
        self.source: Any = ray.remote(Source).options(num_cpus=0, resources={"near": 0.01}).remote(self.sink)

    def run(self, messages: int, mode: Mode) -> float:
        import ray

        elapsed: float = ray.get(self.source.blast.remote(messages, mode), timeout=120)
        return elapsed

    def actor_kib(self) -> float:
        """RSS of the bare Sink actor's worker process (what one Ray actor per member would cost at least)."""
        import ray

        return rss_kib(int(ray.get(self.sink.pid.remote())))

    def close(self) -> None:
        import ray

        ray.kill(self.source)
        ray.kill(self.sink)


# -- the mob -------------------------------------------------------------------------------------------------
class MobRig:
    """One running mob (engine ``local`` or ``ray``) with a sender; a fresh receiver per run."""

    def __init__(self, path: Path, state_root: Path, engine: Literal["local", "ray"], address: str) -> None:
        from mobkat.mob import Mob

        kwargs: dict[str, Any] = {"state_root": state_root, "inbox_capacity": 1_000_000}
        if engine == "ray":
            kwargs.update(engine="ray", ray_address=address)
        self.mob = Mob.from_toml(path, simulator=True, **kwargs)
        self.engine = engine
        self._runs = 0
        self.running = False
        self.far_node: str | None = None

    def start(self) -> MobRig:
        self.mob.start()
        self.running = True
        self.mob.spawn("sender", "a")
        return self

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.mob.stop()

    def run(self, messages: int, mode: Mode) -> float:
        """Seconds for ``messages`` peer messages: nowait → until consumed by committed turns; ask → routed."""
        mob = self.mob
        self._runs += 1
        name = f"r{self._runs}"
        mob.spawn("receiver", name)
        mob.wire("a", name)
        mob.member(name).info()  # started and answering
        link = mob.ray_link
        if link is not None:
            placed = link.placement()
            if placed[name] == placed["a"]:
                raise RuntimeError(f"receiver {name} landed on the sender's node {placed[name][:8]}")
            self.far_node = placed[name]
        bodies = [f"message {i}" for i in range(messages)]
        start = time.perf_counter()
        if mode == "tell":
            for body in bodies:
                mob.send_peer_nowait("a", name, body)
            mob.wait_idle(timeout=120)
        else:
            for body in bodies:
                mob.send_peer("a", name, body)
        elapsed = time.perf_counter() - start
        if mode == "ask":
            mob.wait_idle(timeout=120)  # outside the clock: nothing of this run spills into the next
        mob.retire(name)
        return elapsed

    def spawn_many(self, count: int, prefix: str) -> float:
        """Seconds until ``count`` workers are spawned and each answered ``info()``."""
        mob = self.mob
        start = time.perf_counter()
        names = [mob.spawn("worker", f"{prefix}{i}") for i in range(count)]
        for name in names:
            mob.member(name).info()
        return time.perf_counter() - start

    def retire_all(self, prefix: str) -> None:
        for member in self.mob.members():
            if str(member["name"]).startswith(prefix):
                self.mob.retire(str(member["name"]))


# -- processes -----------------------------------------------------------------------------------------------
def rss_kib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _children(parents: set[int]) -> Iterator[tuple[int, str]]:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            if ppid not in parents:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                yield int(entry), cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile


def host_pids(raylets: set[int]) -> list[int]:
    """The member-host worker processes of this cluster (children of its raylets titled ``ray::MemberHost``)."""
    return [pid for pid, title in _children(raylets) if title.startswith("ray::MemberHost")]


def hosts_kib(raylets: set[int]) -> tuple[float, int]:
    pids = host_pids(raylets)
    return sum(rss_kib(pid) for pid in pids), len(pids)


# -- the cluster ---------------------------------------------------------------------------------------------
@contextmanager
def two_nodes() -> Iterator[tuple[str, set[int]]]:
    """A two-node Ray cluster on loopback (``near`` head, ``far`` second); its address and raylet pids."""
    import ray
    from ray.cluster_utils import Cluster

    cluster: Any = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "node_ip_address": LOOPBACK, "include_dashboard": False, "resources": {"near": 1}})
    try:
        cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK, resources={"far": 1})
        ray.init(address=cluster.address, _node_ip_address=LOOPBACK, namespace="mobkat",
                 logging_level=logging.WARNING)
        raylets = {info.process.pid for node in cluster.list_all_nodes()
                   for info in node.all_processes.get("raylet", [])}
        yield cluster.address, raylets
    finally:
        ray.shutdown()
        cluster.shutdown()


def rate(run: Callable[[int, Mode], float], messages: int, mode: Mode) -> Callable[[], float]:
    return lambda: messages / run(messages, mode)


def run(settings: Settings) -> list[Row]:
    messages = settings.pick(200, 1000)
    repeats = settings.pick(3, 5)
    spawn_repeats = settings.pick(1, 3)
    with tempfile.TemporaryDirectory(prefix="mobkat-bench-ray-") as tmp:
        path = Path(tmp) / "bench-ray.toml"
        path.write_text(MOB_TOML)
        with two_nodes() as (address, raylets):
            raw = RawRay()
            ray_rig = MobRig(path, Path(tmp) / "ray", "ray", address).start()
            local_rig = MobRig(path, Path(tmp) / "local", "local", address).start()
            try:
                routing = interleave({
                    "raw_tell": rate(raw.run, messages, "tell"),
                    "ray_tell": rate(ray_rig.run, messages, "tell"),
                    "local_tell": rate(local_rig.run, messages, "tell"),
                    "raw_ask": rate(raw.run, messages, "ask"),
                    "ray_ask": rate(ray_rig.run, messages, "ask"),
                    "local_ask": rate(local_rig.run, messages, "ask"),
                }, repeats=repeats)
                actor_kib = raw.actor_kib()
                local_spawn = [1000 * local_rig.spawn_many(SPAWN, f"w{i}-") for i in range(spawn_repeats)]
                local_rig.stop()
                # one warm-up member per node, so that both member hosts exist before the memory is read
                ray_rig.mob.spawn("sender", "warm-near")
                ray_rig.mob.spawn("receiver", "warm-far")
                before, hosts = hosts_kib(raylets)
                ray_spawn: list[float] = []
                spread: Counter[str] = Counter()
                after = before
                for i in range(spawn_repeats):
                    prefix = f"w{i}-"
                    ray_spawn.append(1000 * ray_rig.spawn_many(SPAWN, prefix))
                    link = ray_rig.mob.ray_link
                    assert link is not None
                    if i == 0:
                        after, hosts = hosts_kib(raylets)
                        spread = Counter(node for name, node in link.placement().items() if name.startswith(prefix))
                    ray_rig.retire_all(prefix)
            finally:
                raw.close()
                local_rig.stop()
                ray_rig.stop()
    local_kib = child_kib("mobkat", SPAWN)
    return rows(settings, messages, routing, local_spawn, ray_spawn, spread, ray_rig.far_node,
                (after - before) / SPAWN, hosts, local_kib, actor_kib)


def rows(settings: Settings, messages: int, routing: dict[str, list[float]], local_spawn: list[float],
         ray_spawn: list[float], spread: Counter[str], far: str | None, ray_kib: float, hosts: int,
         local_kib: float, actor_kib: float) -> list[Row]:
    rate_stats = {name: Stats.of(values, "higher") for name, values in routing.items()}
    tell, ask = rate_stats["ray_tell"], rate_stats["ray_ask"]
    nodes = ", ".join(f"{node[:8]}{' (far)' if node == far else ''}: {count}" for node, count in spread.items())
    return [
        make_row("ray.routing.peer", "msg/s", tell, rate_stats["raw_tell"], "Ray fire-and-forget call",
                 None, note=f"Mob.send_peer_nowait, {messages} messages/run, sender on the head node, receiver on "
                            "the other: first send -> all consumed by committed turns (wait_idle); baseline: "
                            ".remote() calls actor -> actor across the nodes"),
        make_row("ray.routing.peer_local", "msg/s", tell, rate_stats["local_tell"], "same mob in-process",
                 None, note="the same measure on the same mob with engine 'local' (pykka, one process)"),
        make_row("ray.routing.peer_ask", "msg/s", ask, rate_stats["raw_ask"], "Ray sync call round trip",
                 None, note=f"Mob.send_peer, {messages} messages/run: one round trip driver -> head per message, "
                            "until routed (acknowledged by the supervisor); baseline: ray.get(actor.call.remote()) "
                            f"across the nodes; in-process send_peer: {rate_stats['local_ask'].median:,.0f} msg/s"),
        make_row("ray.spawn.100", "ms", Stats.of(ray_spawn, "lower"), Stats.of(local_spawn, "lower"),
                 f"{SPAWN} members in-process", None,
                 note=f"{SPAWN} turn_driven members over 2 nodes, spawned and each answered info(); "
                      f"spread per node: {nodes}"),
        make_row("ray.memory.member", "KiB", Stats.of([ray_kib], "lower"), Stats.of([local_kib], "lower"),
                 "in-process member", None,
                 note=f"RSS of the {hosts} member-host processes, after - before {SPAWN} members, / {SPAWN}; "
                      f"one bare Ray actor's worker process (the Sink): {actor_kib / 1024:,.0f} MiB"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_ray", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs (about two minutes)")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list instead of a table")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", file=sys.stderr)
    started = time.perf_counter()
    result = run(Settings(quick=args.quick))
    print(to_json(result) if args.json else table(result), flush=True)
    print(f"total: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
