"""The Ray member engine: members placed on member hosts over the cluster's nodes, and node loss noticed.

- One :class:`~mobkat.engine.member_host.MemberHost` per node and mob, made when the first member is placed
  there (pinned to the node, no CPU reserved; owned by the head actor, so it ends with it).
- Placement (:mod:`mobkat.engine.placement`): the profile's ``placement`` pins filter the alive nodes, the one
  hosting the fewest of the mob's members wins, so members spread over nodes by default.
- Node loss: every host has one call that never returns (``until_gone``); a watcher thread waits on them all.
  When one fails, its node is gone: each member it hosted is reported to the supervisor as crashed (the same
  report a crashing member sends), and the supervisor restarts it, elsewhere, at the next generation on its
  stored session, redelivering what it had not acknowledged.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import pykka

from mobkat.engine.member_host import HostSettings, MemberHost
from mobkat.engine.placement import NodeInfo, choose_node, qualifies
from mobkat.engine.ray_cluster import NAMESPACE
from mobkat.engine.remote import RemoteFuture
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.member import MemberActor
from mobkat.mob.member_port import MemberGoneError, remote_member
from mobkat.mob.messages import Envelope
from mobkat.session import Session

if TYPE_CHECKING:
    from mobkat.mob.supervisor import Supervisor

log = logging.getLogger(__name__)
START_TIMEOUT = 120.0  # the first member on a node waits for its host's worker process to start
WATCH_POLL_S = 0.5


class RayPort:
    """One member incarnation on a member host."""

    __slots__ = ("alive", "fence", "host", "name", "node_id")

    def __init__(self, host: Any, node_id: str, name: str, fence: str) -> None:
        self.host = host
        self.node_id = node_id
        self.name = name
        self.fence = fence
        self.alive = True

    @property
    def where(self) -> str:
        return f"Ray node {self.node_id[:8]}"

    def post(self, envelope: Envelope) -> None:
        if not self.alive:
            raise MemberGoneError(f"member {self.name} was on lost {self.where}")
        self.host.post.remote(self.name, self.fence, [envelope])

    def open_live(self) -> None:
        if self.alive:
            self.host.open_live.remote(self.name, self.fence)

    def close_live(self, timeout: float) -> None:
        if self.alive:
            RemoteFuture(self.host.close_live.remote(self.name, self.fence), f"close_live {self.name}").get(timeout)

    def stop(self, timeout: float) -> None:
        if self.alive:
            self.alive = False
            RemoteFuture(self.host.stop_member.remote(self.name, self.fence), f"stop {self.name}").get(timeout)

    def is_alive(self) -> bool:
        return self.alive

    def local_ref(self) -> pykka.ActorRef[MemberActor]:
        raise remote_member(self.name, self.where)


class RayEngine:
    """Starts a mob's members on the Ray cluster this process is connected to (see ``ray_cluster.connect``)."""

    def __init__(self, settings: HostSettings, head: Any) -> None:
        import ray

        self._ray: Any = ray
        self.settings = settings
        self.head = head
        self._lock = threading.Lock()
        self._hosts: dict[str, Any] = {}  # node id → member host
        self._ports: dict[str, RayPort] = {}  # member name → its current incarnation
        self._sentinels: dict[Any, str] = {}  # until_gone call → node id
        self._lost: set[str] = set()
        self._supervisor: pykka.ActorRef[Any] | None = None
        self._closing = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"mobkat-ray-watch-{settings.mob_id}",
                                         daemon=True)
        self._watcher.start()

    # -- MemberEngine -----------------------------------------------------------------------------------
    def start_member(self, supervisor: Supervisor, session: Session, identity: MemberIdentity,
                     profile: str) -> RayPort:
        self._supervisor = supervisor.actor_ref
        pins = self.settings.definition.profile(profile).placement
        with self._lock:
            for name in [name for name, port in self._ports.items() if not port.alive]:
                del self._ports[name]  # stopped or lost incarnations: nothing is kept of them
            load: dict[str, int] = {}
            for port in self._ports.values():
                if port.name != identity.name:
                    load[port.node_id] = load.get(port.node_id, 0) + 1
        node = choose_node(self._alive_nodes(), pins, load, member=identity.name)
        host = self._host(node.node_id)
        RemoteFuture(host.start_member.remote(session.id, identity, profile),
                     f"start member {identity.name}").get(START_TIMEOUT)
        port = RayPort(host, node.node_id, identity.name, identity.fence_token)
        with self._lock:
            self._ports[identity.name] = port
        return port

    def close(self) -> None:
        """Stop watching, then shut every host down (their members are stopped already) and end them."""
        self._closing.set()
        with self._lock:
            hosts = list(self._hosts.items())
            self._hosts.clear()
        for node_id, host in hosts:
            try:
                failures = RemoteFuture(host.shutdown.remote(), f"shut down the host on {node_id[:8]}").get(60.0)
                for failure in failures:
                    log.warning("mob %s: on node %s: %s", self.settings.mob_id, node_id[:8], failure)
            except Exception as exc:
                log.warning("mob %s: the member host on node %s failed to shut down: %s",
                            self.settings.mob_id, node_id[:8], exc)
            self._ray.kill(host, no_restart=True)
        self._watcher.join(timeout=WATCH_POLL_S * 4)

    # -- nodes and hosts ----------------------------------------------------------------------------------
    def _alive_nodes(self) -> list[NodeInfo]:
        with self._lock:
            lost = set(self._lost)
        nodes = [NodeInfo(n["NodeID"], dict(n.get("Resources") or {}), dict(n.get("Labels") or {}))
                 for n in self._ray.nodes() if n.get("Alive")]
        return [node for node in nodes if node.node_id not in lost]

    def _host(self, node_id: str) -> Any:
        with self._lock:
            known = self._hosts.get(node_id)
        if known is not None:
            return known
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        actor_class = self._ray.remote(MemberHost)
        host: Any = actor_class.options(
            namespace=NAMESPACE, num_cpus=0,
            max_restarts=0, max_concurrency=64,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
        ).remote(self.settings, self.head)
        sentinel = host.until_gone.remote()
        with self._lock:
            self._hosts[node_id] = host
            self._sentinels[sentinel] = node_id
        return host

    def prestart_hosts(self) -> list[str]:
        """Start member hosts, without waiting for them, on the alive nodes that some profile may place a member
        on: as many as the definition declares members (``[[members]]``, at least one), on the nodes placement
        picks first (it breaks ties in node order); the node ids. A host is a Ray worker process, which takes
        seconds to start (over a minute on a starved machine): started with the mob, it is ready when the first
        members, or a flow's first step, need it. Other nodes get theirs when a member is first placed there,
        so a small mob on a large cluster starts few processes."""
        definition = self.settings.definition
        pins = [profile.placement for profile in definition.profiles.values()]
        wanted = max(1, len(definition.members or ()))
        nodes = [node.node_id for node in self._alive_nodes() if any(qualifies(node, pin) for pin in pins)][:wanted]
        for node_id in nodes:
            self._host(node_id)
        return nodes

    def wait_hosts(self, timeout: float) -> list[str]:
        """Wait (at most ``timeout`` s) until every member host answers; the nodes whose host does. One that
        does not (its node is going) is logged and left to the node-loss watcher."""
        with self._lock:
            hosts = dict(self._hosts)
        pings = {host.ping.remote(): node_id for node_id, host in hosts.items()}
        ready, late = self._ray.wait(list(pings), num_returns=len(pings), timeout=timeout) if pings else ([], [])
        for ref in late:
            log.warning("mob %s: the member host on node %s did not start within %g s", self.settings.mob_id,
                        pings[ref][:8], timeout)
        return [pings[ref] for ref in ready]

    def host_nodes(self) -> list[str]:
        """The nodes this mob has a member host on."""
        with self._lock:
            return list(self._hosts)

    def hosts(self) -> dict[str, str]:
        """Member name → the node id hosting its current incarnation."""
        with self._lock:
            return {name: port.node_id for name, port in self._ports.items() if port.alive}

    # -- node loss ----------------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._closing.is_set():
            with self._lock:
                sentinels = list(self._sentinels)
            if not sentinels:
                self._closing.wait(WATCH_POLL_S)
                continue
            ready, _ = self._ray.wait(sentinels, num_returns=1, timeout=WATCH_POLL_S)
            if ready and not self._closing.is_set():
                self._node_lost(ready[0])

    def _node_lost(self, sentinel: Any) -> None:
        try:
            sentinel.future().result(timeout=10.0)  # ready (ray.wait said so): its error, at once
            error = "its member host ended"
        except Exception as exc:  # ActorDiedError: the node (or the host's process) is gone
            error = f"{type(exc).__name__}"
        with self._lock:
            node_id = self._sentinels.pop(sentinel)
            self._hosts.pop(node_id, None)
            self._lost.add(node_id)
            gone = [port for port in self._ports.values() if port.node_id == node_id and port.alive]
            for port in gone:
                port.alive = False
        log.warning("mob %s: Ray node %s lost (%s); restarting %d member(s) elsewhere", self.settings.mob_id,
                    node_id[:8], error, len(gone))
        supervisor = self._supervisor
        for port in gone:
            if supervisor is None:
                break
            try:
                supervisor.tell({"member_crashed": port.name, "fence": port.fence,
                                 "error": f"node lost: Ray node {node_id[:8]} ({error})"})
            except pykka.ActorDeadError:  # the mob is stopping: nothing restarts any more
                log.info("mob %s: node %s lost while the mob stops", self.settings.mob_id, node_id[:8])
                break


__all__ = ["RayEngine", "RayPort"]
