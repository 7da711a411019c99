"""MemberActor: a SessionActor with a mob identity, an inbox of peer messages, and supervision hooks.

The actor never waits for a turn: it hands turns to the I/O loop and hears back through its own
mailbox (``_TurnDone``), stamped with the fence token of the generation that started them, so a
reply that outlives a restart is refused.
"""

from __future__ import annotations

import concurrent.futures
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka
from pydantic import BaseModel, ConfigDict

from mobkat.actor import SessionActor
from mobkat.errors import ChannelAlreadyBoundError
from mobkat.history import HistoryRow, UserRow
from mobkat.live.channel import capabilities_of
from mobkat.live.wire import (
    AssistantTextDelta,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    ChannelStatus,
    LiveErrorObservation,
    LiveOpenResult,
    LiveTransport,
    Observation,
    Ready,
    TurnCompleted,
    TurningMode,
    UserTranscriptFinal,
)
from mobkat.mob.definition_schema import LiveSettings
from mobkat.mob.events import EventLog
from mobkat.mob.mailbox import DRAIN, Mailbox
from mobkat.mob.messages import Envelope
from mobkat.session.session import Session, TurnResult


class MemberIdentity(BaseModel):
    """``mob_id/role/name`` plus the incarnation: ``generation`` and its ``fence_token``."""

    model_config = ConfigDict(frozen=True)

    mob_id: str
    role: str
    name: str
    generation: int = 0
    fence_token: str

    @property
    def comms_name(self) -> str:
        return f"{self.mob_id}/{self.role}/{self.name}"

    def next_generation(self) -> MemberIdentity:
        return self.model_copy(update={"generation": self.generation + 1, "fence_token": new_fence()})


def new_fence() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class _TurnDone:
    fence: str
    envelope_ids: tuple[str, ...]
    future: concurrent.futures.Future[TurnResult]


@dataclass(frozen=True)
class _Crash:
    reason: str


@dataclass(frozen=True)
class OpenLive:
    """Supervisor → member: open your live channel now."""


class MemberActor(SessionActor):
    """One mob member: exactly one session, at most one live channel, an inbox worked one turn at a time."""

    def __init__(self, session: Session, identity: MemberIdentity, supervisor: pykka.ActorRef[Any],
                 events: EventLog, live: LiveSettings, mailbox: Mailbox, **session_kwargs: Any) -> None:
        super().__init__(session, **session_kwargs)
        self.identity = identity
        self.supervisor = supervisor
        self.mailbox = mailbox  # the supervisor posts routed envelopes here and tells DRAIN
        self.events = events
        self.live_settings = live
        self._inbox: deque[Envelope] = deque()
        self._context: list[HistoryRow] = []  # lifecycle notices: land with the next turn, never start one
        # steered rows that missed the turn they were meant for (with their message ids): they start the next
        self._carry: list[tuple[str, HistoryRow]] = []
        self._steered: list[tuple[str, HistoryRow]] = []  # steered into the running turn, not yet consumed
        self._turn: tuple[str, tuple[str, ...], concurrent.futures.Future[TurnResult]] | None = None
        self._committed_turns = 0

    # -- supervision -------------------------------------------------------------------------------
    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        if self._turn is not None:
            self._turn[2].cancel()  # an unfinished turn of a dead generation never commits
        self.on_stop()
        self.supervisor.tell({"member_crashed": self.identity.name, "fence": self.identity.fence_token,
                              "error": f"{exception_type.__name__}: {exception_value}"})

    def on_receive(self, message: Any) -> Any:
        if message is DRAIN:  # the supervisor routed envelopes to this member
            for envelope in self.mailbox.take_all():
                self.deliver(envelope)
        elif isinstance(message, OpenLive):
            self.open_live()
        elif isinstance(message, _TurnDone):
            self._turn_done(message)
        elif isinstance(message, _Crash):
            raise RuntimeError(f"member {self.identity.name} crashed: {message.reason}")
        return None

    def crash(self, reason: str = "crash requested") -> None:
        """Fail as if an exception escaped (chaos drills and tests): the supervisor restarts the member."""
        self.actor_ref.tell(_Crash(reason))

    def info(self) -> dict[str, Any]:
        channel = self._open_channel()
        return {"name": self.identity.name, "role": self.identity.role, "generation": self.identity.generation,
                "fence_token": self.identity.fence_token, "session_id": self.session.id,
                "busy": self._turn is not None, "queued": len(self._inbox),
                "live_channel_id": channel.channel_id if channel else None,
                "live_status": channel.status.status if channel else None, "idle": self.session.idle}

    # -- inbox --------------------------------------------------------------------------------------
    def deliver(self, envelope: Envelope) -> None:
        """Take a routed message: into the live conversation, the running turn (steer), or the inbox."""
        if not envelope.starts_turn:
            row = _opening_row(envelope)
            if not self.live_inject(row, False):
                self._context.append(row)
            self._ack((envelope.id,))
            return
        # The history row is built only where it is used now: a queued message gets its row when its turn starts.
        if self._open_channel() is not None and self.live_inject(_opening_row(envelope), True):
            self._ack((envelope.id,))  # it is in the live conversation; it lands in history at the boundary
            return
        if envelope.handling_mode == "steer" and self._turn is not None:
            row = _opening_row(envelope)
            if self.session.steer(row):
                self._steered.append((envelope.id, row))
                return
        self._inbox.append(envelope)
        self._start_next_turn()

    def _start_next_turn(self) -> None:
        if self._turn is not None or not (self._inbox or self._carry):
            return
        batch = list(self._inbox)
        self._inbox.clear()
        opening = [*self._context, *(row for _, row in self._carry), *(_opening_row(e) for e in batch)]
        ids = tuple([message_id for message_id, _ in self._carry] + [e.id for e in batch])
        self._context, self._carry = [], []
        future = self.start_turn(opening)
        fence = self.identity.fence_token
        self._turn = (fence, ids, future)
        me = self.actor_ref

        def report(done: concurrent.futures.Future[TurnResult]) -> None:
            try:
                me.tell(_TurnDone(fence, ids, done))
            except pykka.ActorDeadError:
                pass  # the member was stopped or retired while the turn ran: nobody is left to tell

        future.add_done_callback(report)

    def _turn_done(self, done: _TurnDone) -> None:
        if done.fence != self.identity.fence_token or self._turn is None or self._turn[2] is not done.future:
            return  # a stale reply from another incarnation
        ids = self._turn[1]
        self._turn = None
        try:
            result = done.future.result()
        except Exception as exc:
            self.events.append("turn_failed", member=self.identity.name, error=str(exc))
        else:
            self._committed_turns += 1
            self.events.append("turn_committed", member=self.identity.name, generation=self.identity.generation,
                               messages=len(result.rows), text=result.text, source="turn")
            self.supervisor.tell({"turn_committed": self.identity.name, "fence": self.identity.fence_token})
        missed = self.session.take_unconsumed_steers()
        carried = [(i, row) for i, row in self._steered if any(row is m for m in missed)]
        consumed = tuple(i for i, row in self._steered if not any(row is m for m in missed))
        self._steered = []
        self._ack(ids + consumed)  # a steer is acknowledged only once the turn that took it committed
        self._carry += carried
        self._start_next_turn()

    def _ack(self, ids: tuple[str, ...]) -> None:
        if ids:
            self.supervisor.tell({"consumed": self.identity.name, "fence": self.identity.fence_token,
                                  "ids": list(ids)})

    # -- live ---------------------------------------------------------------------------------------
    def open_live(self) -> str | None:
        """Open this member's live channel with its profile's settings (the supervisor asks after spawn)."""
        try:
            return self.open_member_live().channel_id
        except Exception as exc:
            self.events.append("live_failed", member=self.identity.name, error=str(exc))
            return None

    def open_member_live(self, turning_mode: TurningMode | None = None, voice: str | None = None,
                         observer: Callable[[Observation], None] | None = None) -> LiveOpenResult:
        """Open the live channel (profile settings unless given), mirroring it into the mob's events.

        ``observer`` also hears every observation, from the first one on (e.g. a host's socket feed)."""
        settings = self.live_settings
        watch: Callable[[Observation], None] = self._observe
        if observer is not None:
            def watch(observation: Observation) -> None:
                self._observe(observation)
                observer(observation)

        result = self.live_open(turning_mode or settings.turning_mode, voice or settings.voice, watch)
        self.events.append("live_opened", member=self.identity.name, channel_id=result.channel_id,
                           turning_mode=result.turning_mode, continuity=result.continuity.mode)
        context, self._context = self._context, []
        for row in context:  # pending lifecycle notices join the live conversation as context
            self.live_inject(row, False)
        return result

    def claim_live(self, turning_mode: TurningMode | None = None,
                   observer: Callable[[Observation], None] | None = None) -> LiveOpenResult:
        """Open the live channel for a host, or hand it the one the mob opened itself (``open_on_spawn``).

        A handed-over channel keeps its turning mode (asking for another one is refused); ``observer``
        hears ``ready`` first when the channel is ready, then every later observation."""
        channel = self._open_channel()
        if channel is None:
            return self.open_member_live(turning_mode, None, observer)
        if turning_mode is not None and turning_mode != channel.turning_mode:
            raise ChannelAlreadyBoundError(
                f"member {self.identity.name} already has live channel {channel.channel_id} in turning mode "
                f"{channel.turning_mode!r}: close it before opening one in {turning_mode!r}",
                details={"channel_id": channel.channel_id, "turning_mode": channel.turning_mode})
        if observer is not None:
            if channel.status.status == "ready":
                observer(Ready())
            channel.subscribe(observer)
        return LiveOpenResult(channel_id=channel.channel_id, transport=LiveTransport(transport="in_process"),
                              capabilities=capabilities_of(self.session), continuity=channel.continuity,
                              turning_mode=channel.turning_mode)

    def close_live(self) -> ChannelStatus | None:
        channel = self._open_channel()
        if channel is None:
            return None
        status = self.live_close(channel.channel_id)
        self.events.append("live_closed", member=self.identity.name, channel_id=channel.channel_id)
        return status

    def _observe(self, observation: Observation) -> None:
        """Live observations → mob events (runs on the I/O loop)."""
        name = self.identity.name
        if isinstance(observation, UserTranscriptFinal):
            self.events.append("user_transcript", member=name, text=observation.text)
        elif isinstance(observation, AssistantTranscriptDelta | AssistantTextDelta):
            self.events.append("transcript_delta", member=name, delta=observation.delta)
        elif isinstance(observation, AssistantTranscriptFinal):
            self.events.append("assistant_transcript", member=name, text=observation.text)
        elif isinstance(observation, TurnCompleted):
            self.events.append("turn_committed", member=name, generation=self.identity.generation,
                               messages=observation.committed_messages, stop_reason=observation.stop_reason,
                               source="live")
        elif isinstance(observation, LiveErrorObservation):
            self.events.append("live_closed", member=name, error=observation.message)


def _opening_row(envelope: Envelope) -> HistoryRow:
    """Operator input is a plain user row; peer traffic is a typed comms notice."""
    return UserRow(content=envelope.body) if envelope.sender == "operator" else envelope.to_row()
