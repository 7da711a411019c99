"""The supervisor actor: spawns members from profiles, wires them, routes peer messages, restarts crashes.

It only ever *tells* members (never waits on a member's turn), so a slow member cannot stall routing
for the others. Members report back with plain dict messages carrying their fence token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pykka

from mobkat.errors import (
    InboxFullError,
    MemberBrokenError,
    MemberExistsError,
    MemberNotFoundError,
    MobkatError,
    WiringError,
)
from mobkat.live.channel import ReconnectPolicy
from mobkat.mob.definition import MobDefinition
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.delivery import DELIVERY_ATTEMPTS
from mobkat.mob.events import EventLog
from mobkat.mob.identity import MemberIdentity, new_fence
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.mob.mailbox import DRAIN, Mailbox
from mobkat.mob.member import MemberActor
from mobkat.mob.member_port import LocalEngine, MemberEngine, MemberGoneError, MemberPort
from mobkat.mob.member_record import MemberRecord
from mobkat.mob.member_tools import member_tools
from mobkat.mob.messages import Envelope, kickoff_text
from mobkat.mob.peer_tools import COMMS_SKILL
from mobkat.mob.persistence import NO_JOURNAL, RosterJournal, RosterLog, restore_members
from mobkat.mob.wiring import WiringMixin
from mobkat.session import Session, SessionServices, ToolRegistry
from mobkat.store.mob_records import MemberRow

log = logging.getLogger(__name__)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
STOP_TIMEOUT = 20.0


class Supervisor(WiringMixin, pykka.ThreadingActor):
    """Owns the roster and the wiring graph of one mob."""

    def __init__(self, definition: MobDefinition, services: SessionServices, events: EventLog, *,
                 inbox_capacity: int = 1024, tool_timeout_s: float = 30.0,
                 reconnect: ReconnectPolicy | None = None, inbound: Mailbox | None = None,
                 delivery_attempts: int = DELIVERY_ATTEMPTS, clock: Callable[[], float] = time.monotonic,
                 journal: RosterJournal | None = None, room: InboxRoom | None = None,
                 engine: MemberEngine | None = None) -> None:
        super().__init__()
        self.engine: MemberEngine = engine if engine is not None else LocalEngine()
        """Where member incarnations run (mobkat.mob.member_port): this process, or a Ray cluster."""
        self.room = room if room is not None else InboxRoom()
        """Senders waiting for room in a full inbox (woken in ``_consumed``)."""
        self.journal: RosterLog = journal if journal is not None else NO_JOURNAL
        """Where roster changes are written as they happen (by default nowhere)."""
        self.clock = clock
        """Monotonic seconds; restart windows (``restart.within_s``) are measured with it."""
        self.inbound = inbound if inbound is not None else Mailbox()
        """Envelopes posted by ``Mob.send_peer_nowait``, routed on ``DRAIN``."""
        self.definition = definition
        self.services = services
        self.events = events
        self.inbox_capacity = inbox_capacity
        self.delivery_attempts = delivery_attempts
        self.tool_timeout_s = tool_timeout_s
        self.reconnect = reconnect
        self.members: dict[str, MemberRecord] = {}
        self.retired: dict[str, MemberRecord] = {}
        self.edges: set[frozenset[str]] = set()
        self._proxy: pykka.ActorProxy[Supervisor] | None = None  # shared by every member's PeerRouter

    # -- spawning -------------------------------------------------------------------------------------
    def spawn(self, profile: str, name: str | None = None, initial_message: str | None = None,
              generation: int = 0, runtime_mode: RuntimeMode | None = None,
              labels: dict[str, str] | None = None, flow_owned: bool = False) -> dict[str, Any]:
        """Create the member's session and actor, wire it by the auto-wiring rules, and kick it off.

        ``runtime_mode`` overrides the profile's; ``labels`` are the member's (also on its session).
        ``flow_owned``: a member a flow run provisions, whose name starts with the reserved ``__flow_``."""
        name = name or profile
        if not NAME.match(name) or (name.startswith("__flow_") and not flow_owned):
            raise WiringError(f"member name {name!r} is not a valid identifier (letters, digits, '_' and '-', "
                              "starting with a letter or '_')")
        if name in self.members:
            raise MemberExistsError(f"mob {self.definition.id}: member {name!r} already exists; retire it first "
                                    "or choose another name")
        prof = self.definition.profile(profile)
        identity = MemberIdentity(mob_id=self.definition.id, role=profile, name=name, generation=generation,
                                  fence_token=new_fence())
        mode = runtime_mode or prof.runtime_mode
        session = Session.create(self.services, model=prof.model, provider=prof.provider,
                                 instructions=self._instructions(profile), tools=self._tools(profile, name),
                                 labels={**(labels or {}), "mob_id": self.definition.id, "role": profile,
                                         "member": name})
        live = self.definition.live_settings(profile)
        try:
            port = self.engine.start_member(self, session, identity, profile)
        except Exception:  # e.g. RuntimeError "can't start new thread": the member never existed
            self._abandon(session.id)
            raise
        record = MemberRecord(name=name, profile=profile, identity=identity, session_id=session.id,
                              port=port, comms=prof.tools.comms,
                              live_wanted=live.open_on_spawn and session.profile.capabilities.realtime,
                              runtime_mode=mode, labels=dict(labels or {}))
        self.members[name] = record
        self.retired.pop(name, None)
        self.journal.member(record)
        self.events.append("member_spawned", member=name, role=profile, generation=generation,
                           fence_token=identity.fence_token, runtime_mode=mode,
                           session_id=session.id, comms_name=identity.comms_name, labels=record.labels)
        for peer in self._auto_wire_targets(record):
            self._wire(name, peer)
        kickoff = initial_message
        if kickoff is None and (mode == "autonomous_host" or record.live_wanted):
            kickoff = kickoff_text(self.definition.id, name, profile)  # a live member must not stay idle
        if kickoff is not None:
            self._send(record, Envelope(sender="operator", receiver=name, body=kickoff))
        return record.view(self._wired_to(name))

    def _abandon(self, session_id: str) -> None:
        """Archive the session of a spawn that failed after creating it, so no idle orphan is listed."""
        try:
            self.services.store.archive_session(session_id)
        except MobkatError as exc:
            log.warning("mob %s: cannot archive session %s of a failed spawn: %s", self.definition.id, session_id, exc)

    def _instructions(self, profile: str) -> str:
        prompt = self.definition.system_prompt(profile)
        if self.definition.profile(profile).tools.comms:
            prompt = f"{prompt}\n\n{COMMS_SKILL}" if prompt else COMMS_SKILL
        return prompt

    def _tools(self, profile: str, name: str) -> ToolRegistry:
        if self._proxy is None:
            self._proxy = self.actor_ref.proxy()
        return member_tools(self.definition, profile, name, self._proxy, self.room, self.tool_timeout_s)

    # -- retire / respawn ------------------------------------------------------------------------------
    def retire(self, name: str) -> bool:
        """Close the member's live channel, stop it, drop its edges. Idempotent for unknown names."""
        record = self.members.pop(name, None)
        if record is None:
            return False
        for peer in self._wired_to(name):
            self._unwire(name, peer)
        self._stop_actor(record)
        record.status = "retired"
        self.retired[name] = record
        self.journal.removed(name)
        self.events.append("member_retired", member=name, role=record.profile,
                           generation=record.identity.generation)
        return True

    def respawn(self, name: str, initial_message: str | None = None) -> dict[str, Any]:
        """Retire and spawn again with the same profile and peers, in a fresh session, generation + 1."""
        record = self.members.get(name)
        if record is None:
            raise MemberNotFoundError(f"mob {self.definition.id}: no member {name!r} to respawn")
        peers = self._wired_to(name)
        generation = record.identity.generation
        self.retire(name)
        self.spawn(record.profile, name, initial_message, generation=generation + 1,
                   runtime_mode=record.runtime_mode, labels=record.labels)
        for peer in peers:
            if peer in self.members:
                self._wire(name, peer)
        return self.members[name].view(self._wired_to(name))

    def _stop_actor(self, record: MemberRecord) -> None:
        """Close the member's live channel and stop its actor. A step that fails is logged and reported as a
        ``member_stop_failed`` event: an actor that did not stop may still be running (its reports are fenced)."""
        if not record.port.is_alive():
            return
        try:
            record.port.close_live(STOP_TIMEOUT)
        except Exception as exc:  # a member that cannot close cleanly is stopped anyway
            self._stop_failed(record, "close_live", exc)
        try:
            record.port.stop(STOP_TIMEOUT)
        except Exception as exc:
            self._stop_failed(record, "stop", exc)

    def _stop_failed(self, record: MemberRecord, step: str, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        log.warning("mob %s: member %s (generation %d) failed to %s: %s", self.definition.id, record.name,
                    record.identity.generation, step.replace("_", " "), error)
        self.events.append("member_stop_failed", member=record.name, generation=record.identity.generation,
                           fence_token=record.identity.fence_token, step=step, error=error,
                           still_running=record.port.is_alive())

    def stop_members(self) -> None:
        """Stop every member (closing live channels first); the mob's history stays in the store."""
        for name in list(self.members):
            record = self.members[name]
            self._stop_actor(record)
        self.events.append("mob_shutdown", members=sorted(self.members))  # the state is kept: a restart restores

    # -- lifecycle and restore (mobkat.mob.lifecycle, mobkat.mob.persistence) ----------------------------
    def restore(self, rows: list[MemberRow], edges: list[tuple[str, str]], reason: str) -> list[str]:
        """Members back on their sessions at generation + 1 (after a restart, or on resume)."""
        return restore_members(self, rows, edges, reason)

    def drop_roster(self) -> list[str]:
        """Lifecycle stop: stop every member actor and forget them here; the stored roster stays."""
        names = sorted(self.members)
        for record in self.members.values():
            self._stop_actor(record)
        self.members.clear()
        self.retired.clear()
        self.edges.clear()
        return names

    def retire_all(self, archive: bool) -> list[str]:
        """Retire every member (complete, reset, destroy); ``archive`` also archives their sessions."""
        names = sorted(self.members)
        for name in names:
            session_id = self.members[name].session_id
            self.retire(name)
            if archive:
                try:
                    self.services.store.archive_session(session_id)
                except MobkatError as exc:
                    log.warning("mob %s: cannot archive the session of %s: %s", self.definition.id, name, exc)
        self.journal.cleared()
        return names

    def on_stop(self) -> None:
        for record in self.members.values():
            self._stop_actor(record)
        try:
            self.engine.close()
        except Exception as exc:  # logged and kept visible: the supervisor stops regardless
            log.warning("mob %s: the member engine failed to close: %s", self.definition.id, exc)
            self.services.stop_failed(f"mob {self.definition.id}: member engine", exc)

    # -- routing ---------------------------------------------------------------------------------------
    def route(self, envelope: Envelope) -> str:
        """Deliver a peer (or operator) message if the pair is wired and the inbox has room.

        Every refusal is also a ``peer_message_rejected`` event (``reason``, ``message_id``, ``error``).
        """
        receiver = self.members.get(envelope.receiver)
        if receiver is None:
            raise self._reject(envelope, "not_found", self._not_found(envelope.receiver))
        if receiver.status == "broken":
            raise self._reject(envelope, "broken", MemberBrokenError(
                f"member {receiver.name!r} is broken (restart limit reached) and takes no messages; respawn it"))
        if envelope.sender != "operator":
            if envelope.sender not in self.members:
                raise self._reject(envelope, "not_found", self._not_found(envelope.sender))
            if frozenset((envelope.sender, envelope.receiver)) not in self.edges:
                raise self._reject(envelope, "not_wired", WiringError(
                    f"wiring error: {envelope.sender} and {envelope.receiver} are not wired; only wired members "
                    f"can message each other (peers of {envelope.sender}: "
                    f"{', '.join(self._wired_to(envelope.sender)) or 'none'})"))
        if len(receiver.unacked) >= self.inbox_capacity:
            raise self._reject(envelope, "inbox_full", InboxFullError(
                f"the inbox of {receiver.name} is full ({self.inbox_capacity} messages waiting); retry later",
                details={"capacity": self.inbox_capacity}))
        self._send(receiver, envelope)
        self.events.append("peer_message_routed", sender=envelope.sender, receiver=envelope.receiver,
                           kind=envelope.kind, message_id=envelope.id, preview=envelope.body[:80])
        return envelope.id

    def route_nowait(self, envelope: Envelope) -> None:
        """:meth:`route` for a caller that does not wait (``Mob.send_peer_nowait``): nothing comes back, a
        refusal is only the ``peer_message_rejected`` event (an exception here would stop the supervisor)."""
        try:
            self.route(envelope)
        except MobkatError:
            pass

    def _reject(self, envelope: Envelope, reason: str, error: MobkatError) -> MobkatError:
        self.events.append("peer_message_rejected", sender=envelope.sender, receiver=envelope.receiver,
                           reason=reason, message_id=envelope.id, error=str(error))
        return error

    def _not_found(self, name: str) -> MemberNotFoundError:
        return MemberNotFoundError(f"mob {self.definition.id}: member {name!r} not found (members: "
                                   f"{', '.join(sorted(self.members)) or 'none'})")

    def _send(self, record: MemberRecord, envelope: Envelope) -> None:
        if envelope.kind != "lifecycle":
            record.unacked[envelope.id] = envelope
        try:
            record.port.post(envelope)
        except MemberGoneError:
            pass  # kept in unacked: redelivered when the member restarts

    def _require(self, name: str) -> MemberRecord:
        record = self.members.get(name)
        if record is None:
            raise self._not_found(name)
        return record

    # -- reads ---------------------------------------------------------------------------------------
    def roster(self) -> list[dict[str, Any]]:
        return [r.view(self._wired_to(r.name)) for r in self.members.values()]

    def member_ref(self, name: str) -> pykka.ActorRef[MemberActor]:
        """The member's actor in this process (``MobError`` on an engine that runs it elsewhere)."""
        return self._require(name).ref

    def member_port(self, name: str) -> MemberPort:
        return self._require(name).port

    def session_id(self, name: str) -> str:
        record = self.members.get(name) or self.retired.get(name)
        if record is None:
            raise MemberNotFoundError(f"mob {self.definition.id}: member {name!r} not found")
        return record.session_id

    def pending(self) -> int:
        """Messages routed but not yet consumed by a committed turn."""
        return sum(len(r.unacked) for r in self.members.values() if r.status == "active")

    # -- reports from members -----------------------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        if message is DRAIN:  # Mob.send_peer_nowait posted to the inbound mailbox
            for envelope in self.inbound.take_all():
                self.route_nowait(envelope)
            return None
        if not isinstance(message, dict):
            return None
        for key, handler in (("consumed", self._consumed), ("turn_committed", self._turn_committed),
                             ("member_crashed", self._member_crashed)):
            if key in message:
                record = self.members.get(message[key])
                if record is not None and record.identity.fence_token == message.get("fence"):
                    handler(record, message)
                return None
        return None

    def _consumed(self, record: MemberRecord, message: dict[str, Any]) -> None:
        for message_id in message["ids"]:
            record.unacked.pop(message_id, None)
        self.room.freed(record.name)

    def _turn_committed(self, record: MemberRecord, _message: dict[str, Any]) -> None:
        if record.live_wanted and not record.live_requested:
            record.live_requested = True
            record.port.open_live()

    def _member_crashed(self, record: MemberRecord, message: dict[str, Any]) -> None:
        policy = self.definition.profile(record.profile).restart
        now = self.clock()
        while record.restarts and now - record.restarts[0] > policy.within_s:
            record.restarts.popleft()
        if len(record.restarts) >= policy.max_restarts:
            record.status = "broken"
            self.journal.member(record)
            self.events.append("member_broken", member=record.name, error=message.get("error"),
                               restarts=len(record.restarts), within_s=policy.within_s)
            return
        record.restarts.append(now)
        record.identity = record.identity.next_generation()
        try:
            # only the metadata here: the new member reads the history on its own thread (MemberActor.on_start)
            session = Session.load(self.services, record.session_id, tools=self._tools(record.profile, record.name),
                                   defer_history=True)
            record.port = self.engine.start_member(self, session, record.identity, record.profile)
        except Exception as exc:  # e.g. no Ray node left that its placement allows: broken, never the supervisor
            log.warning("mob %s: cannot restart member %s: %s", self.definition.id, record.name, exc)
            record.status = "broken"
            self.journal.member(record)
            self.events.append("member_broken", member=record.name, error=f"cannot restart: {exc}",
                               restart_failed=True, crash=message.get("error"))
            return
        self.journal.member(record)
        self.events.append("member_restarted", member=record.name, generation=record.identity.generation,
                           fence_token=record.identity.fence_token, error=message.get("error"))
        for envelope in list(record.unacked.values()):
            self._send(record, envelope)
        record.live_requested = False
        if record.live_wanted and not session.idle:
            record.live_requested = True
            record.port.open_live()


__all__ = ["MemberRecord", "Supervisor"]
