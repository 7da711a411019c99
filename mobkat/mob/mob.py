"""``Mob``: the Python API over a running mob (supervisor, members, events), usable as a context manager."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pykka

from mobkat.catalog import Catalog
from mobkat.config import load_config
from mobkat.errors import InvalidInputError, MobError
from mobkat.live.channel import ReconnectPolicy
from mobkat.mob.definition import MobDefinition
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.delivery import DELIVERY_ATTEMPTS
from mobkat.mob.events import EventLog, MobEvent
from mobkat.mob.flow_api import FlowsMixin
from mobkat.mob.inbox_wait import INBOX_WAIT_S, InboxRoom
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor
from mobkat.mob.member_handle import MemberHandle
from mobkat.mob.member_port import MemberEngine
from mobkat.mob.messages import Envelope, HandlingMode, PeerKind
from mobkat.mob.mob_lifecycle import LifecycleMixin
from mobkat.mob.persistence import RosterJournal, stored_roster
from mobkat.mob.sim_rules import PEER_RULES
from mobkat.mob.supervisor import Supervisor
from mobkat.session import SessionServices
from mobkat.simulator import Simulator
from mobkat.store import MemorySessionStore, SessionStore, SqliteSessionStore
from mobkat.store.mob_records import MobRecordStore
from mobkat.store.spec import StoreSpec

if TYPE_CHECKING:
    from mobkat.engine.ray_cluster import RayTarget
    from mobkat.engine.ray_mob import RayLink

ASK_TIMEOUT = 30.0
Engine = Literal["local", "ray"]


def wants_simulator(simulator: bool | None) -> bool:
    """``None`` means: use the simulator when no OpenAI key and no OpenAI endpoint are configured."""
    if simulator is not None:
        return simulator
    if os.environ.get("MOBKAT_SIMULATOR") == "1":
        return True
    return not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL")


class Mob(LifecycleMixin, FlowsMixin):
    """A running mob. ``with Mob.from_toml("mobs/live-demo.toml") as mob: ...``"""

    def __init__(self, definition: MobDefinition, *, services: SessionServices | None = None,
                 simulator: bool | None = None, state_root: str | os.PathLike[str] | None = None,
                 inbox_capacity: int = 1024,
                 ask_timeout: float = ASK_TIMEOUT, tool_timeout_s: float = 30.0,
                 reconnect: ReconnectPolicy | None = None, delivery_attempts: int = DELIVERY_ATTEMPTS,
                 clock: Callable[[], float] = time.monotonic, records: MobRecordStore | None = None,
                 fresh: bool = False, inbox_wait_s: float = INBOX_WAIT_S, engine: Engine = "local",
                 ray_address: str = "local", store_dsn: str | None = None,
                 member_engine: MemberEngine | None = None) -> None:
        """``clock`` (monotonic seconds) measures restart windows; tests pass a fake one to step over a window.

        ``records`` keeps the mob's definition, state, roster and events (default: ``<state_root>/<id>/mobs.db``
        with a ``state_root``, else in memory). A mob that has a record there is restored by :meth:`start`, unless
        ``fresh``: then that record (roster, events) is dropped and the mob starts anew (sessions stay stored).

        ``engine="ray"`` spreads the members over the Ray cluster at ``ray_address`` (``local``: a new one on this
        machine; see docs/distributed.md), with histories in PostgreSQL (``store_dsn``) or SQLite under
        ``state_root``. ``member_engine`` is the engine's seam itself (the Ray head passes its own)."""
        if delivery_attempts < 1:
            raise InvalidInputError(f"delivery_attempts must be at least 1 (got {delivery_attempts}): a message "
                                    "needs one turn to be delivered at all")
        self.definition = definition
        self.ask_timeout = ask_timeout
        self._given_services = services
        self._simulator_choice = simulator
        self._state_root = Path(state_root) if state_root is not None else None
        self._inbox_capacity = inbox_capacity
        self.room = InboxRoom(inbox_wait_s)
        """A sender that finds an inbox full waits up to ``inbox_wait_s`` for room (mobkat.mob.inbox_wait)."""
        self._tool_timeout_s = tool_timeout_s
        self._reconnect = reconnect
        self._delivery_attempts = delivery_attempts
        self._clock = clock
        self.simulator: Simulator | None = None
        self.services: SessionServices = services  # type: ignore[assignment]  # set by start()
        self._store: SessionStore | None = None
        self.events_log = EventLog(definition.id)
        self._supervisor: pykka.ActorRef[Supervisor] | None = None
        # Building a pykka proxy introspects the actor (about a millisecond): build each one once.
        self._supervisor_proxy: pykka.ActorProxy[Supervisor] | None = None
        self._member_proxies: dict[str, pykka.ActorProxy[MemberActor]] = {}
        self._inbound = Mailbox()  # send_peer_nowait → supervisor
        self._lock = threading.Lock()
        self._given_records = records
        self._fresh = fresh
        self.records: MobRecordStore | None = records
        self._journal = None
        self._state = "Creating"
        self._epoch = 0
        self._lifecycle_lock = threading.Lock()
        if engine not in ("local", "ray"):
            raise InvalidInputError(f"engine must be 'local' or 'ray' (got {engine!r})")
        self.engine = engine
        self._ray_target: RayTarget | None = None
        if engine == "ray":
            from mobkat.engine.ray_cluster import RayTarget
            self._ray_target = RayTarget(ray_address)
        self._store_dsn = store_dsn
        self._member_engine = member_engine
        self._ray: RayLink | None = None
        self._own_services = False
        """The link to the mob's head actor (``engine="ray"``), once started."""

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **kwargs: Any) -> Mob:
        """Load and validate a definition (with custom models from config) and wrap it; call :meth:`start`."""
        catalog = Catalog.default().with_config(load_config())
        return cls(MobDefinition.from_toml(path, catalog=catalog), **kwargs)

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def ray_link(self) -> RayLink | None:
        """The link to the mob's head actor on its Ray cluster (``engine="ray"``, once started), else ``None``."""
        return self._ray

    @property
    def uses_simulator(self) -> bool:
        """The simulator stands in for the providers: this mob's own, or its shared services' (a server's)."""
        if self.simulator is not None:
            return True
        services: SessionServices | None = self.services
        return services is not None and services.endpoints.simulator_base_url is not None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> Mob:
        """Start the I/O loop, the simulator if it stands in, and the supervisor. Spawns nothing."""
        with self._lock:
            if self._supervisor is not None or self._ray is not None:
                return self
            if self._ray_target is not None:
                self._start_on_ray(self._ray_target)
                return self
            if self._given_services is None:
                if self._store_dsn:  # PostgreSQL, one schema per mob (as on the Ray engine)
                    self._store = StoreSpec.mob_postgres(self._store_dsn, self.id).open()
                else:
                    self._store = (SqliteSessionStore(self._state_root / self.id / "sessions.db")
                                   if self._state_root is not None else MemorySessionStore())
                self.services = SessionServices(store=self._store, simulator_base_url=self._own_simulator())
            self.services.start()
            restoring = self._open_records()
            self._supervisor = Supervisor.start(self.definition, self.services, self.events_log,
                                                inbox_capacity=self._inbox_capacity,
                                                tool_timeout_s=self._tool_timeout_s, reconnect=self._reconnect,
                                                inbound=self._inbound, delivery_attempts=self._delivery_attempts,
                                                clock=self._clock, journal=RosterJournal(self._records(), self.id),
                                                room=self.room, engine=self._member_engine)
            self._supervisor_proxy = self._supervisor.proxy()
            if restoring is None:
                self.events_log.append("mob_started", simulator=self.uses_simulator)
            else:
                self._restore(restoring)
            self._start_flows()  # after a restore: runs left unfinished are marked failed
        return self

    def _own_simulator(self) -> str | None:
        """Start this mob's own simulator when it stands in for the providers; its base URL, else ``None``."""
        if not wants_simulator(self._simulator_choice):
            return None
        self.simulator = Simulator(record_frames=False).start()
        for rule in PEER_RULES:
            self.simulator.add_tool_rule(rule)
        return self.simulator.base_url

    def _start_on_ray(self, target: RayTarget) -> None:
        """Start the mob's head actor on the cluster (it runs the supervisor and the event log) and link to it.

        Given services lend their configuration and simulator; the histories are always in a store every node
        opens (this process opens it too, to read them)."""
        from mobkat.engine.ray_mob import RayLink, RemoteFlows, head_settings, store_spec_for

        given = self._given_services
        base_url = given.endpoints.simulator_base_url if given is not None else self._own_simulator()
        spec = store_spec_for(self.id, self._state_root, self._store_dsn, target)
        self._store = spec.open()
        self.services = SessionServices(store=self._store, simulator_base_url=base_url,
                                        config=given.config if given is not None else None).start()
        self._own_services = True
        link = RayLink(self, target)
        settings = head_settings(self, spec, base_url, state_root=self._state_root,
                                 inbox_capacity=self._inbox_capacity, tool_timeout_s=self._tool_timeout_s,
                                 delivery_attempts=self._delivery_attempts, fresh=self._fresh)
        try:
            self._supervisor_proxy = link.start(settings)  # type: ignore[assignment]  # answers as a proxy does
        except BaseException:
            self._close_services()
            raise
        self._ray = link
        self._flows = RemoteFlows(link, self.ask_timeout)  # flows run in the head, next to the supervisor
        self._state = "Running"

    def _close_services(self) -> None:
        if self._given_services is None or self._own_services:
            self.services.close()
            if self._store is not None:
                self._store.close()
        if self.simulator is not None:
            self.simulator.stop()

    def stop(self) -> None:
        """Close live channels, stop every actor, the I/O loop and the simulator. Idempotent."""
        with self._lock:
            link, self._ray = self._ray, None
            if link is not None:
                self._flows = None
                self._supervisor_proxy = None
                self._member_proxies.clear()
                try:
                    link.stop(self.ask_timeout * 4)
                finally:
                    self.events_log.close()
                    self._close_services()
                return
            self._stop_flows()  # active flow runs end canceled (cause mob_stopped)
            supervisor, self._supervisor = self._supervisor, None
            if supervisor is None:
                return
            self._supervisor_proxy = None
            self._member_proxies.clear()
            try:
                supervisor.proxy().stop_members().get(timeout=self.ask_timeout * 2)
            finally:
                supervisor.stop(timeout=self.ask_timeout)
                self.events_log.close()
                self._close_records()
                self._close_services()

    def __enter__(self) -> Mob:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervise(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        proxy = self._supervisor_proxy
        if proxy is None:
            raise MobError(f"mob {self.id} is not running; call start() first")
        return getattr(proxy, method)(*args).get(timeout=timeout or self.ask_timeout)

    def _spawn_timeout(self) -> float:
        """How long a spawn may take: on Ray it may start a member host's worker process on a node first."""
        if self._ray_target is None:
            return self.ask_timeout
        from mobkat.engine.ray_mob import SPAWN_TIMEOUT_S

        return max(self.ask_timeout, SPAWN_TIMEOUT_S)

    def _member_proxy(self, name: str) -> pykka.ActorProxy[MemberActor]:
        if self._ray is not None:  # on its member host, wherever its current incarnation runs
            remote: Any = self._ray.member(name, self.ask_timeout)
            return remote  # type: ignore[no-any-return]
        ref: pykka.ActorRef[MemberActor] = self._supervise("member_ref", name)
        proxy = self._member_proxies.get(name)
        if proxy is None or proxy.actor_ref.actor_urn != ref.actor_urn:  # first use, or a new incarnation
            proxy = self._member_proxies[name] = ref.proxy()
        return proxy

    # -- members ----------------------------------------------------------------------------------------
    def spawn(self, profile: str, name: str | None = None, initial_message: str | None = None, *,
              runtime_mode: RuntimeMode | None = None, labels: dict[str, str] | None = None) -> str:
        """Spawn a member from a profile (named after it by default); returns the member name.

        ``runtime_mode`` overrides the profile's; ``labels`` are the member's (also on its session)."""
        self._require_running("spawn")
        view: dict[str, Any] = self._supervise("spawn", profile, name, initial_message, 0, runtime_mode, labels,
                                               timeout=self._spawn_timeout())
        return str(view["name"])

    def spawn_members(self) -> list[str]:
        """Spawn the definition's ``[[members]]`` (one per profile when the file names none)."""
        return [self.spawn(spec.profile, spec.name, spec.initial_message)
                for spec in self.definition.members_to_spawn()]

    def retire(self, name: str) -> bool:
        self._require_running("retire")
        self._member_proxies.pop(name, None)
        return bool(self._supervise("retire", name))

    def respawn(self, name: str, initial_message: str | None = None) -> dict[str, Any]:
        self._require_running("respawn")
        view: dict[str, Any] = self._supervise("respawn", name, initial_message, timeout=self._spawn_timeout())
        return view

    def wire(self, a: str, b: str) -> bool:
        self._require_running("wire")
        return bool(self._supervise("wire", a, b))

    def unwire(self, a: str, b: str) -> bool:
        self._require_running("unwire")
        return bool(self._supervise("unwire", a, b))

    def members(self) -> list[dict[str, Any]]:
        """The roster: the live one while Running, else the stored one (members of a stopped mob)."""
        if self._state != "Running" and self.records is not None:
            return stored_roster(self.records, self.id)
        roster: list[dict[str, Any]] = self._supervise("roster")
        return roster

    def member(self, name: str) -> MemberHandle:
        self._supervise("session_id", name)  # fails clearly for an unknown name
        return MemberHandle(self, name)

    # -- messages ---------------------------------------------------------------------------------------
    def send(self, name: str, content: str, handling_mode: HandlingMode = "queue") -> str:
        """Operator input to a member: a turn (or, for a live member, into its live conversation). A full inbox
        makes this wait up to ``inbox_wait_s`` for room, then raise ``InboxFullError``."""
        self._require_running("send")
        return self.room.route(self._route, Envelope(sender="operator", receiver=name, body=content,
                                                     handling_mode=handling_mode))

    def send_peer(self, sender: str, receiver: str, body: str, kind: PeerKind = "message",
                  handling_mode: HandlingMode = "queue") -> str:
        """Send as member ``sender`` to a wired member (what the comms tools do)."""
        self._require_running("send_peer")
        return self.room.route(self._route, Envelope(sender=sender, receiver=receiver, body=body, kind=kind,
                                                     handling_mode=handling_mode))

    def _route(self, envelope: Envelope) -> str:
        return str(self._supervise("route", envelope))

    def send_peer_nowait(self, sender: str, receiver: str, body: str, kind: PeerKind = "message",
                         handling_mode: HandlingMode = "queue") -> str:
        """:meth:`send_peer` without waiting for the supervisor (posted to its mailbox, no round trip); returns the
        message id. A refusal is not raised: it is a ``peer_message_rejected`` event with this ``message_id``."""
        envelope = Envelope(sender=sender, receiver=receiver, body=body, kind=kind, handling_mode=handling_mode)
        self._route_nowait(envelope)
        return envelope.id

    def _route_nowait(self, envelope: Envelope) -> None:
        if self._ray is not None:
            self._ray.route_nowait(envelope)
            return
        supervisor = self._supervisor
        if supervisor is None:
            raise MobError(f"mob {self.id} is not running; call start() first")
        self._inbound.post(envelope, supervisor)  # a burst of sends costs the supervisor one wake-up

    # -- events -----------------------------------------------------------------------------------------
    def events(self, after: int = 0, *, timeout: float | None = None) -> Iterator[MobEvent]:
        """Events after ``after`` as they happen (ends after ``timeout`` s idle, or when the mob stops)."""
        return self.events_log.follow(after, timeout=timeout)

    def aevents(self, after: int = 0, *, timeout: float | None = None) -> AsyncIterator[MobEvent]:
        return self.events_log.afollow(after, timeout=timeout)

    def wait_for_event(self, predicate: Callable[[MobEvent], bool], *, after: int = 0,
                       timeout: float = 30.0) -> MobEvent:
        """The first event after ``after`` that matches; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        for event in self.events_log.follow(after, timeout=timeout):
            if predicate(event):
                return event
            if time.monotonic() > deadline:
                break
        raise TimeoutError(f"mob {self.id}: no matching event within {timeout:g} s")

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait until every routed message has been consumed by a committed turn."""
        deadline = time.monotonic() + timeout
        cursor = self.events_log.latest
        while self._supervise("pending") > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"mob {self.id}: still busy after {timeout:g} s")
            for event in self.events_log.follow(cursor, timeout=min(remaining, 0.5)):
                cursor = event.cursor
                break
