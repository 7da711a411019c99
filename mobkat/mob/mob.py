"""``Mob``: the Python API over a running mob (supervisor, members, events), usable as a context manager."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pykka

from mobkat.actor import SessionHandle
from mobkat.catalog import Catalog
from mobkat.config import load_config
from mobkat.errors import InvalidInputError, MobError
from mobkat.history import HistoryRow
from mobkat.live.channel import ReconnectPolicy
from mobkat.live.wire import ChannelStatus, InputChunk, LiveOpenResult, TextChunk, TurningMode
from mobkat.mob.definition import MobDefinition
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.delivery import DELIVERY_ATTEMPTS
from mobkat.mob.events import EventLog, MobEvent
from mobkat.mob.flow_api import FlowsMixin
from mobkat.mob.inbox_wait import INBOX_WAIT_S, InboxRoom
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor
from mobkat.mob.messages import Envelope, HandlingMode, PeerKind
from mobkat.mob.mob_lifecycle import LifecycleMixin
from mobkat.mob.persistence import RosterJournal, stored_roster
from mobkat.mob.sim_rules import PEER_RULES
from mobkat.mob.supervisor import Supervisor
from mobkat.session import SessionServices
from mobkat.simulator import Simulator
from mobkat.store import MemorySessionStore, SessionStore, SqliteSessionStore
from mobkat.store.mob_records import MobRecordStore

ASK_TIMEOUT = 30.0


def wants_simulator(simulator: bool | None) -> bool:
    """``None`` means: use the simulator when no OpenAI key and no OpenAI endpoint are configured."""
    if simulator is not None:
        return simulator
    if os.environ.get("MOBKAT_SIMULATOR") == "1":
        return True
    return not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL")


class LiveControls:
    """The live-channel operations of one member (its channel id is found for you)."""

    def __init__(self, member: MemberHandle) -> None:
        self._member = member

    def _ask(self, name: str, *args: Any) -> Any:
        return getattr(self._member.proxy(), name)(*args).get(timeout=self._member.timeout)

    @property
    def channel_id(self) -> str | None:
        channel_id: str | None = self._ask("live_channel_id")
        return channel_id

    def _require(self) -> str:
        channel_id = self.channel_id
        if channel_id is None:
            raise MobError(f"member {self._member.name} has no open live channel; open one with member.live.open()")
        return channel_id

    def open(self, turning_mode: TurningMode | None = None, voice: str | None = None) -> LiveOpenResult:
        """Open the member's channel (the profile's turning mode and voice unless given)."""
        result: LiveOpenResult = self._ask("open_member_live", turning_mode, voice)
        return result

    def subscribe(self, observer: Callable[[Any], None]) -> None:
        self._ask("live_subscribe", self._require(), observer)

    def status(self) -> ChannelStatus:
        status: ChannelStatus = self._ask("live_status", self._require())
        return status

    def send_input(self, chunk: InputChunk) -> None:
        self._ask("live_send_input", self._require(), chunk)

    def send_text(self, text: str) -> None:
        self.send_input(TextChunk(text=text))

    def commit_input(self, modality: str | None = None) -> None:
        self._ask("live_commit_input", self._require(), modality)

    def interrupt(self) -> str | None:
        response_id: str | None = self._ask("live_interrupt", self._require())
        return response_id

    def truncate(self, item_id: str, content_index: int, audio_played_ms: int) -> str:
        heard: str = self._ask("live_truncate", self._require(), item_id, content_index, audio_played_ms)
        return heard

    def refresh(self) -> None:
        self._ask("live_refresh", self._require())

    def close(self) -> ChannelStatus:
        self._require()
        status: ChannelStatus = self._ask("close_live")
        return status


class MemberHandle:
    """One member: its history, info and live channel."""

    def __init__(self, mob: Mob, name: str) -> None:
        self.mob = mob
        self.name = name
        self.timeout = mob.ask_timeout
        self.live = LiveControls(self)

    @property
    def ref(self) -> pykka.ActorRef[MemberActor]:
        return self.mob._supervise("member_ref", self.name)  # type: ignore[no-any-return]

    def proxy(self) -> pykka.ActorProxy[MemberActor]:
        """A proxy to the member's current actor (the mob keeps one per member until it restarts)."""
        return self.mob._member_proxy(self.name, self.ref)

    def history(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed history (also readable after the member is retired)."""
        session_id = self.mob._supervise("session_id", self.name)
        return self.mob.services.store.history(session_id, offset=offset, limit=limit)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.proxy().info().get(timeout=self.timeout)
        return info

    def crash(self, reason: str = "crash requested") -> None:
        """Make the member fail as if an exception escaped; the supervisor restarts it (chaos drills, tests)."""
        self.proxy().crash(reason).get(timeout=self.timeout)

    def session(self) -> SessionHandle:
        """Direct access to the member's session actor (bypasses the mob's routing)."""
        return SessionHandle(self.ref, timeout=self.timeout)


class Mob(LifecycleMixin, FlowsMixin):
    """A running mob. ``with Mob.from_toml("mobs/live-demo.toml") as mob: ...``"""

    def __init__(self, definition: MobDefinition, *, services: SessionServices | None = None,
                 simulator: bool | None = None, state_root: str | os.PathLike[str] | None = None,
                 inbox_capacity: int = 1024,
                 ask_timeout: float = ASK_TIMEOUT, tool_timeout_s: float = 30.0,
                 reconnect: ReconnectPolicy | None = None, delivery_attempts: int = DELIVERY_ATTEMPTS,
                 clock: Callable[[], float] = time.monotonic, records: MobRecordStore | None = None,
                 fresh: bool = False, inbox_wait_s: float = INBOX_WAIT_S) -> None:
        """``clock`` (monotonic seconds) measures restart windows; tests pass a fake one to step over a window.

        ``records`` keeps the mob's definition, state, roster and events (default: ``<state_root>/<id>/mobs.db``
        with a ``state_root``, else in memory). A mob that has a record there is restored by :meth:`start`, unless
        ``fresh``: then that record (roster, events) is dropped and the mob starts anew (sessions stay stored)."""
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

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str], **kwargs: Any) -> Mob:
        """Load and validate a definition (with custom models from config) and wrap it; call :meth:`start`."""
        catalog = Catalog.default().with_config(load_config())
        return cls(MobDefinition.from_toml(path, catalog=catalog), **kwargs)

    @property
    def id(self) -> str:
        return self.definition.id

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
            if self._supervisor is not None:
                return self
            if self._given_services is None:
                base_url = None
                if wants_simulator(self._simulator_choice):
                    self.simulator = Simulator(record_frames=False).start()
                    for rule in PEER_RULES:
                        self.simulator.add_tool_rule(rule)
                    base_url = self.simulator.base_url
                self._store = (SqliteSessionStore(self._state_root / self.id / "sessions.db")
                               if self._state_root is not None else MemorySessionStore())
                self.services = SessionServices(store=self._store, simulator_base_url=base_url)
            self.services.start()
            restoring = self._open_records()
            self._supervisor = Supervisor.start(self.definition, self.services, self.events_log,
                                                inbox_capacity=self._inbox_capacity,
                                                tool_timeout_s=self._tool_timeout_s, reconnect=self._reconnect,
                                                inbound=self._inbound, delivery_attempts=self._delivery_attempts,
                                                clock=self._clock, journal=RosterJournal(self._records(), self.id),
                                                room=self.room)
            self._supervisor_proxy = self._supervisor.proxy()
            if restoring is None:
                self.events_log.append("mob_started", simulator=self.uses_simulator)
            else:
                self._restore(restoring)
            self._start_flows()  # after a restore: runs left unfinished are marked failed
        return self

    def stop(self) -> None:
        """Close live channels, stop every actor, the I/O loop and the simulator. Idempotent."""
        with self._lock:
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
                if self._given_services is None:
                    self.services.close()
                    if self._store is not None:
                        self._store.close()
                if self.simulator is not None:
                    self.simulator.stop()

    def __enter__(self) -> Mob:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervise(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        proxy = self._supervisor_proxy
        if proxy is None:
            raise MobError(f"mob {self.id} is not running; call start() first")
        return getattr(proxy, method)(*args).get(timeout=timeout or self.ask_timeout)

    def _member_proxy(self, name: str, ref: pykka.ActorRef[MemberActor]) -> pykka.ActorProxy[MemberActor]:
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
        view: dict[str, Any] = self._supervise("spawn", profile, name, initial_message, 0, runtime_mode, labels)
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
        view: dict[str, Any] = self._supervise("respawn", name, initial_message)
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
        supervisor = self._supervisor
        if supervisor is None:
            raise MobError(f"mob {self.id} is not running; call start() first")
        envelope = Envelope(sender=sender, receiver=receiver, body=body, kind=kind, handling_mode=handling_mode)
        self._inbound.post(envelope, supervisor)  # a burst of sends costs the supervisor one wake-up
        return envelope.id

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
