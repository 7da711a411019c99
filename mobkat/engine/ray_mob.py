"""The driver's side of a mob on Ray: start its head actor, mirror its events, reach its members.

``Mob(..., engine="ray")`` uses a :class:`RayLink` instead of a supervisor of its own. Its supervisor calls
go to the head (:class:`~mobkat.engine.mob_head.MobHead`), a member's calls go straight to the member host
running it, and the head's event log is mirrored into the driver's own log by one thread (same cursors),
so ``mob.events()`` and everything built on it read as in one process.
"""

from __future__ import annotations

import importlib
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobkat.engine.live_feed import RemoteLiveFeed
from mobkat.engine.member_host import HostSettings
from mobkat.engine.mob_head import HeadSettings, MobHead
from mobkat.engine.ray_cluster import NAMESPACE, RayTarget, connect, disconnect, is_loopback
from mobkat.engine.remote import RemoteFuture, RemoteProxy
from mobkat.errors import InvalidInputError, MobError
from mobkat.live.wire import Observation
from mobkat.mob.messages import Envelope
from mobkat.store.spec import StoreSpec
from mobkat.wire.flows import MobRun

if TYPE_CHECKING:
    from mobkat.mob.mob import Mob

log = logging.getLogger(__name__)
HEAD_START_TIMEOUT = 180.0
SPAWN_TIMEOUT_S = 150.0
"""A spawn may wait for a member host's worker process to start on its node (the engine allows it 120 s)."""
LEAVE_TIMEOUT_S = 30.0
MIRROR_WAIT_S = 1.0


def store_spec_for(mob_id: str, state_root: Path | None, store_dsn: str | None, target: RayTarget) -> StoreSpec:
    """PostgreSQL when a DSN is given; else one SQLite file under the state root (a local cluster, or nodes
    sharing that filesystem); with neither, a new temporary directory, for a cluster on this machine only."""
    if store_dsn:
        return StoreSpec.mob_postgres(store_dsn, mob_id)
    if state_root is None:
        if target.address != "local" and not is_loopback(target.address):
            raise InvalidInputError(
                f"mob {mob_id}: on the Ray cluster at {target.address} every node must reach the histories; give "
                "store_dsn (PostgreSQL, --store-dsn) or a state_root on a filesystem every node shares")
        state_root = Path(tempfile.mkdtemp(prefix="mobkat-ray-"))
    (state_root / mob_id).mkdir(parents=True, exist_ok=True)
    return StoreSpec(kind="sqlite", location=str(state_root / mob_id / "sessions.db"))


class RayLink:
    """One driver's connection to its mob's head actor."""

    def __init__(self, mob: Mob, target: RayTarget) -> None:
        self.mob = mob
        self.target = target
        self.head: Any = None
        self._stop = threading.Event()
        self._mirror: threading.Thread | None = None
        self._joined = False
        self._feeds: list[RemoteLiveFeed] = []

    def start(self, settings: HeadSettings) -> RemoteProxy:
        """Join the cluster, start the head (it starts the mob), and begin mirroring its events."""
        ray = connect(self.target)
        self._joined = True
        try:
            return self._start_head(ray, settings)
        except BaseException:
            self._joined = False
            disconnect()
            raise

    def _start_head(self, ray: Any, settings: HeadSettings) -> RemoteProxy:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        name = f"mobkat-head:{self.mob.id}"
        try:
            ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            pass  # no such head: start one
        else:
            raise MobError(f"mob {self.mob.id} is already running on the Ray cluster at {self.target.address} "
                           f"(actor {name}); stop it first", details={"mob_id": self.mob.id})
        head_node = head_node_id(ray)
        here = head_node or ray.get_runtime_context().get_node_id()
        self.head = ray.remote(MobHead).options(
            name=name, namespace=NAMESPACE, lifetime="detached", max_restarts=-1, max_concurrency=64,
            num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=head_node is None),
        ).remote(settings)
        try:
            RemoteFuture(self.head.latest.remote(), f"start mob {self.mob.id}").get(HEAD_START_TIMEOUT)
            # the mob is started when its member hosts run too: a spawn (a flow's first step) does not wait for one
            RemoteFuture(self.head.hosts_ready.remote(SPAWN_TIMEOUT_S), f"start mob {self.mob.id}'s member hosts"
                         ).get(SPAWN_TIMEOUT_S + 30)
        except BaseException:
            ray.kill(self.head, no_restart=True)
            raise
        self._mirror = threading.Thread(target=self._follow, name=f"mobkat-ray-events-{self.mob.id}", daemon=True)
        self._mirror.start()
        return RemoteProxy(self.head, "supervise", what=f"mob {self.mob.id} supervisor")

    def route_nowait(self, envelope: Envelope) -> None:
        self.head.route_nowait.remote(envelope)

    def mob_call(self, method: str, *args: Any, timeout: float) -> Any:
        return RemoteFuture(self.head.mob_call.remote(method, args), f"mob {self.mob.id} {method}").get(timeout)

    def member(self, name: str, timeout: float) -> RemoteProxy:
        """A proxy to the member's current incarnation, on the host that runs it."""
        host, node_id = RemoteFuture(self.head.member_host.remote(name), f"find member {name}").get(timeout)
        return RemoteProxy(host, "call", prefix=(name,), what=f"member {name} (node {node_id[:8]})")

    def subscribe_live(self, name: str, observer: Callable[[Observation], None], timeout: float) -> RemoteLiveFeed:
        """Stream the member's live observations from its host to ``observer`` (on a thread of this process)."""
        host, _node = RemoteFuture(self.head.member_host.remote(name), f"find member {name}").get(timeout)
        subscription = RemoteFuture(host.subscribe_live.remote(name), f"subscribe to {name}").get(timeout)
        feed = RemoteLiveFeed(host, subscription, name, observer)
        self._feeds.append(feed)
        return feed

    def placement(self, timeout: float = 30.0) -> dict[str, str]:
        """Member name → id of the Ray node running it now."""
        placed: dict[str, str] = RemoteFuture(self.head.placement.remote(), "placement").get(timeout)
        return placed

    def host_nodes(self, timeout: float = 30.0) -> list[str]:
        """Ids of the Ray nodes the mob has a member host on."""
        nodes: list[str] = RemoteFuture(self.head.host_nodes.remote(), "host nodes").get(timeout)
        return nodes

    def alive_nodes(self) -> int:
        ray: Any = importlib.import_module("ray")
        return len([node for node in ray.nodes() if node.get("Alive")])

    def _follow(self) -> None:
        cursor = self.mob.events_log.latest
        while not self._stop.is_set():
            try:
                raws = RemoteFuture(self.head.events_after.remote(cursor, MIRROR_WAIT_S), "events").get(60.0)
            except Exception as exc:  # the head is restarting (Ray brings it back) or the mob is stopping
                if not self._stop.is_set():
                    log.warning("mob %s: reading events from the head failed (%s); retrying", self.mob.id, exc)
                self._stop.wait(MIRROR_WAIT_S)
                continue
            if raws:
                self.mob.events_log.mirror(raws)
                cursor = raws[-1][0]

    def stop(self, timeout: float) -> None:
        """Stop the mob in its head, end the head, and leave the cluster if this link joined it."""
        import ray

        try:
            if self.head is not None:
                RemoteFuture(self.head.shutdown.remote(), f"stop mob {self.mob.id}").get(timeout)
        finally:
            # The head goes first: a call of this process's threads waiting on it then fails at once, so every
            # thread is done with Ray before this process leaves the cluster (Ray aborts a process that shuts
            # its connection down under a thread still in a call).
            self._stop.set()
            if self.head is not None:
                ray.kill(self.head, no_restart=True)
                self.head = None
            for feed in self._feeds:
                feed.stop()
            if self._mirror is not None:
                self._mirror.join(timeout=LEAVE_TIMEOUT_S)
                if self._mirror.is_alive():
                    log.warning("mob %s: the event mirror is still in a Ray call after %g s", self.mob.id,
                                LEAVE_TIMEOUT_S)
            if self._joined:
                self._joined = False
                disconnect()


class RemoteFlows:
    """The driver's flow API on the flow engine in the mob's head actor (``Mob.run_flow`` and friends)."""

    def __init__(self, link: RayLink, timeout: float) -> None:
        self._link = link
        self._timeout = timeout

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        head = self._link.head
        if head is None:
            raise MobError(f"mob {self._link.mob.id} is not running")
        return RemoteFuture(head.flow_call.remote(method, args), f"flows {method}").get(timeout or self._timeout)

    def flows(self) -> list[str]:
        return list(self._call("flows"))

    def run_flow(self, flow_id: str, params: dict[str, Any] | None = None) -> str:
        return str(self._call("run_flow", flow_id, params))

    def status(self, run_id: str) -> MobRun | None:
        run: MobRun | None = self._call("status", run_id)
        return run

    def cancel(self, run_id: str, cause: str = "cancel_requested") -> bool:
        return bool(self._call("cancel", run_id, cause))

    def wait(self, run_id: str, timeout: float = 30.0) -> MobRun:
        run: MobRun = self._call("wait", run_id, timeout, timeout=timeout + self._timeout)
        return run

    def active(self) -> list[str]:
        return list(self._call("active"))

    def stop(self, cause: str = "mob_stopped") -> list[str]:
        return list(self._call("stop", cause))


def head_node_id(ray: Any) -> str | None:
    """The cluster's head node (the one running Ray's GCS, already the cluster's single point of failure): where
    the mob's head actor goes, so that losing a worker node never takes the supervisor with it."""
    for node in ray.nodes():
        if node.get("Alive") and "node:__internal_head__" in (node.get("Resources") or {}):
            return str(node["NodeID"])
    return None


def head_settings(mob: Mob, store: StoreSpec, simulator_base_url: str | None, *, state_root: Path | None,
                  inbox_capacity: int, tool_timeout_s: float, delivery_attempts: int, fresh: bool) -> HeadSettings:
    host = HostSettings(mob_id=mob.id, definition=mob.definition, store=store,
                        simulator_base_url=simulator_base_url, tool_timeout_s=tool_timeout_s,
                        delivery_attempts=delivery_attempts)
    return HeadSettings(host=host, state_root=str(state_root) if state_root is not None else None,
                        inbox_capacity=inbox_capacity, fresh=fresh)


__all__ = ["RayLink", "head_settings", "store_spec_for"]
