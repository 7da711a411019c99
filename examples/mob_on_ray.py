"""The research team on a two-node Ray cluster on this machine: where each member runs, a relay across the
nodes, then one node removed mid-conversation and its members back on the other, history intact.

Runs offline (the built-in simulator stands in for the providers) and needs the ``ray`` extra:

    pip install -e '.[ray]'
    python examples/mob_on_ray.py

A real cluster instead of this one: ``Mob.from_toml(path, engine="ray", ray_address="HOST:PORT",
store_dsn="postgresql://...")`` (docs/distributed.md).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only: set before Ray is imported

import ray
from ray.cluster_utils import Cluster

from mobkat.mob import Mob

TEAM = Path(__file__).resolve().parents[1] / "mobs" / "research-team.toml"
LOOPBACK = "127.0.0.1"


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": LOOPBACK,
                                                            "include_dashboard": False})
    try:
        worker = cluster.add_node(num_cpus=1, node_ip_address=LOOPBACK)
        ray.init(address=cluster.address, _node_ip_address=LOOPBACK, logging_level="ERROR")
        head_node = cluster.head_node.node_id
        names = {head_node: "head", worker.node_id: "worker"}
        with Mob.from_toml(TEAM, engine="ray", ray_address=cluster.address, simulator=True,
                           state_root=tempfile.mkdtemp(prefix="mobkat-ray-example-")) as mob:
            assert mob.simulator is not None and mob.ray_link is not None
            print(f"simulator: stands in for OpenAI at {mob.simulator.base_url} (offline)")
            print(f"mob {mob.id}: spawned {mob.spawn_members()}")
            mob.wait_idle(timeout=120)
            placed = mob.ray_link.placement()
            print("placement:")
            for name in sorted(placed):
                print(f"  {name:<8} on the {names[placed[name]]} node")

            cursor = mob.events_log.latest
            mob.send("lead", "ask the market: how big is the market for field-service voice assistants?")
            answer = mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == "lead"
                                        and "market says" in (e.get("text") or ""), after=cursor, timeout=120)
            print(f"relay across the nodes: lead says {answer.get('text')[:60]!r}...")

            lost = sorted(name for name, node in placed.items() if node == worker.node_id)
            before = {name: len(mob.member(name).history()) for name in lost}
            cursor = mob.events_log.latest
            cluster.remove_node(worker)
            print(f"removed the worker node (it ran {', '.join(lost)})")
            for name in lost:
                event = mob.wait_for_event(lambda e, n=name: e.type == "member_restarted" and e.get("member") == n,
                                           after=cursor, timeout=120)
                print(f"  {name}: restarted at generation {event.get('generation')} ({event.get('error')})")
            mob.wait_idle(timeout=120)
            placed = mob.ray_link.placement()
            for name in lost:
                rows = len(mob.member(name).history())
                print(f"  {name}: now on the {names[placed[name]]} node, history {before[name]} rows -> {rows}")
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
