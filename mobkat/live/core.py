"""The live channel's shared core: its state, observers, status moves, tasks, and the provider connect.

Every part of the channel (:mod:`~mobkat.live.commands`, :mod:`~mobkat.live.provider_events`,
:mod:`~mobkat.live.reconnect`, :mod:`~mobkat.live.channel`) builds on :class:`ChannelCore`; the turn
boundary (``_pend`` / ``_flush_pending``) is implemented by :class:`~mobkat.live.channel.LiveChannel`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mobkat.errors import LiveError, LiveProviderError
from mobkat.history import HistoryRow, StopReason
from mobkat.live.adapter import DEFAULT_VOICE, ProviderConfig, RealtimeAdapter
from mobkat.live.staging import TurnStager
from mobkat.live.state import ChannelStateMachine
from mobkat.live.wire import (
    ChannelStatus,
    Continuity,
    ContinuityModeName,
    DegradedReason,
    Observation,
    StatusChanged,
    TurningMode,
)
from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS, RealtimeSeed, check_seed_window
from mobkat.session.session import Session

log = logging.getLogger("mobkat.live.channel")


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff for re-opening a dropped provider socket."""

    attempts: int = 5
    initial_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.initial_delay_s * (2 ** attempt), self.max_delay_s))


@dataclass
class PendingCommit:
    """A finished provider response whose turn is about to be committed."""

    stop_reason: StopReason
    response_id: str | None
    timer: asyncio.TimerHandle | None = None
    hold_for_truncate: bool = False
    awaiting: set[str] = field(default_factory=set)  # input items whose transcript belongs to this turn


@dataclass
class TruncateWait:
    """A truncate waiting for the transcript to cover the audio the caller played."""

    item_id: str
    played_ms: float
    heard: asyncio.Future[str]


class ChannelCore(ABC):
    """The state every part of a live channel shares, and the primitives they all use."""

    def __init__(self, session: Session, *, turning_mode: TurningMode = "provider_managed",
                 voice: str = DEFAULT_VOICE, tool_timeout_s: float = 30.0,
                 reconnect: ReconnectPolicy | None = None, truncate_grace_s: float = 0.3,
                 seed_max_chars: int | None = DEFAULT_SEED_MAX_CHARS) -> None:
        check_seed_window(seed_max_chars)
        self.seed_max_chars = seed_max_chars  # the seed window (None: the whole history), see docs/live.md
        self.channel_id = str(uuid.uuid4())
        self.session = session
        self.model, self.provider = session.model, session.provider
        self.turning_mode: TurningMode = turning_mode
        self.voice = voice
        self.tool_timeout_s = tool_timeout_s
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self.truncate_grace_s = truncate_grace_s
        self.continuity = Continuity(mode="fresh")
        self.committed_turns = 0
        self.connections = 0
        self._state = ChannelStateMachine()
        self._observers: list[Callable[[Observation], None]] = []
        self._stager = TurnStager()
        self._adapter: RealtimeAdapter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tool_tasks: dict[str, list[asyncio.Task[None]]] = {}
        self._active_response: str | None = None
        self._awaiting_transcripts: set[str] = set()
        self._given_up: set[str] = set()  # input items committed without their transcript (it came too late)
        self._pending: PendingCommit | None = None
        self._commit_lock = asyncio.Lock()
        self._turn_waiters: dict[str, asyncio.Future[list[HistoryRow]]] = {}  # by typed item id
        self._staged_text: list[str] = []
        self._audio_staged = False
        self._truncations: dict[str, tuple[str, str]] = {}  # item id → (heard text, response id)
        self._truncate_waits: list[TruncateWait] = []
        self._typed: dict[str, tuple[str, HistoryRow | None]] = {}  # sent text items not yet echoed
        self._response_requested = False  # response.create sent, response.created not yet seen
        self._cancel_next = False  # interrupted before the requested response started
        self._respond_next = False  # a response was wanted while one ran: ask for it when that one ends
        self._where = f"live channel {self.channel_id} (session {session.id})"

    # -- observing --------------------------------------------------------------------------------
    @property
    def status(self) -> ChannelStatus:
        return self._state.status

    def subscribe(self, observer: Callable[[Observation], None]) -> Callable[[], None]:
        """Call ``observer`` (on the I/O loop) with every observation; returns an unsubscribe function."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _emit(self, observation: Observation) -> None:
        for observer in list(self._observers):
            try:
                observer(observation)
            except Exception:  # an observer's failure must not break the channel
                log.exception("live observer failed")

    def _move(self, target: Any, reason: DegradedReason | None = None) -> None:
        self._emit(StatusChanged(status=self._state.move(target, reason)))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- connecting -------------------------------------------------------------------------------
    def _provider_config(self) -> ProviderConfig:
        caps = self.session.profile.capabilities
        return ProviderConfig(instructions=self.session.instructions, tools=self.session.tools.realtime_specs(),
                              turning_mode=self.turning_mode, voice=self.voice,
                              transcription_model=caps.transcription_companion_model)

    async def _connect(self) -> Continuity:
        """Connect and seed the committed history (under the seed window); how much of it the provider has."""
        seed: RealtimeSeed = await asyncio.to_thread(self.session.realtime_seed, self.seed_max_chars)
        adapter = RealtimeAdapter(self.session.services.client_for(self.provider), self.model)
        await adapter.connect(self._provider_config(), seed.items)
        self._adapter = adapter
        self.connections += 1
        mode: ContinuityModeName = "degraded" if seed.omitted_rows else "transcript_only" if seed.seeded_rows \
            else "fresh"
        return Continuity(mode=mode, seeded_messages=seed.seeded_rows)

    async def _request_response(self, adapter: RealtimeAdapter, modality: str | None = None) -> None:
        self._response_requested = True
        await adapter.create_response(modality)

    def _settle_truncations(self, *, force: bool | TruncateWait = False, lost: str | None = None) -> None:
        """Decide the heard text of waiting truncates whose transcript now covers the played audio (with
        ``force``, all of them — their turn is being committed — or that one); a wait whose item is gone
        fails (with ``LiveProviderError(lost)`` when the connection dropped)."""
        for wait in list(self._truncate_waits):
            if wait.heard.done():
                self._truncate_waits.remove(wait)
            elif self._stager.item_response(wait.item_id) is None:
                self._truncate_waits.remove(wait)
                wait.heard.set_exception(LiveProviderError(lost) if lost else LiveError(
                    f"{self._where}: item {wait.item_id!r} left the current turn before its truncate was decided",
                    details={"kind": "truncate_unknown_item", "item_id": wait.item_id}))
            elif force is True or force is wait or self._stager.covers(wait.item_id, wait.played_ms):
                self._truncate_waits.remove(wait)
                wait.heard.set_result(self._stager.truncate(wait.item_id, wait.played_ms) or "")

    def _fail_waiters(self, message: str) -> None:
        waiters, self._turn_waiters = self._turn_waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_exception(LiveProviderError(message))

    # -- the turn boundary (implemented by LiveChannel) -------------------------------------------
    @abstractmethod
    def _pend(self, stop: StopReason, response_id: str | None, *, hold_for_truncate: bool) -> None:
        """A response finished: hold its turn for a late transcript or truncate, or commit it now."""

    @abstractmethod
    def _flush_pending(self) -> None:
        """Take the finished turn's rows now (synchronously) and write them in order."""
