"""A live channel: one realtime provider connection, committing its turns into the session's history.

Everything here runs on the session services' I/O loop. The channel is the only writer of the
session's history while it is open; turns commit at their boundary, and ``turn_completed`` is
published only after the commit is durable.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mobkat.errors import ChannelNotReadyError, LiveError, LiveProviderError
from mobkat.history import HistoryRow, StopReason, Usage, row_text
from mobkat.live.adapter import DEFAULT_VOICE, ProviderConfig, RealtimeAdapter
from mobkat.live.inputs import check_pcm, check_text, decode_audio, reject_unsupported
from mobkat.live.staging import UNTRANSCRIBED, TurnStager
from mobkat.live.state import ChannelStateMachine
from mobkat.live.wire import (
    AssistantAudioChunk,
    AssistantTextDelta,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    AssistantTranscriptTruncated,
    AudioChunk,
    ChannelStatus,
    CommandRejected,
    Continuity,
    ContinuityModeName,
    DegradedReason,
    ErrorCode,
    InputChunk,
    LiveCapabilities,
    LiveErrorObservation,
    LiveOpenResult,
    LiveTransport,
    Observation,
    Ready,
    StatusChanged,
    TextChunk,
    ToolCallRequested,
    TurnCompleted,
    TurningMode,
    TurnInterrupted,
    TurnUsage,
    UserTranscriptFinal,
)
from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS, SEED_PREFIX, RealtimeSeed, check_seed_window
from mobkat.session.session import Session

log = logging.getLogger(__name__)

TRANSCRIPT_WAIT_S = 5.0
_STOP_BY_STATUS: dict[str, StopReason] = {"completed": "end_turn", "incomplete": "max_tokens",
                                          "cancelled": "cancelled", "failed": "end_turn"}


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff for re-opening a dropped provider socket."""

    attempts: int = 5
    initial_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.initial_delay_s * (2 ** attempt), self.max_delay_s))


@dataclass
class _PendingCommit:
    """A finished provider response whose turn is about to be committed."""

    stop_reason: StopReason
    response_id: str | None
    timer: asyncio.TimerHandle | None = None
    hold_for_truncate: bool = False
    awaiting: set[str] = field(default_factory=set)  # input items whose transcript belongs to this turn


def capabilities_of(session: Session) -> LiveCapabilities:
    """Channel capabilities derived from the catalog row of the session's model."""
    caps = session.profile.capabilities
    return LiveCapabilities(
        audio_in=caps.realtime, audio_out=caps.realtime, text_in=True, text_out=True, image_in=False,
        video_in=False, transcript_supported=caps.realtime_transcript_supported,
        barge_in_supported=caps.realtime_interrupt_supported, provider_native_resume=False)


class LiveChannel:
    """At most one per session; created and driven by the session's actor."""

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
        self._pending: _PendingCommit | None = None
        self._commit_lock = asyncio.Lock()
        self._turn_waiters: dict[str, asyncio.Future[list[HistoryRow]]] = {}  # by typed item id
        self._staged_text: list[str] = []
        self._audio_staged = False
        self._truncations: dict[str, tuple[str, str]] = {}  # item id → (heard text, response id)
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

    # -- open / close -------------------------------------------------------------------------------
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

    async def open(self) -> LiveOpenResult:
        """Connect to the provider, seed the canonical history, start observing."""
        self._move("opening")
        try:
            self.continuity = await self._connect()
        except LiveProviderError as exc:
            self._emit(LiveErrorObservation(code=ErrorCode(code="connection_failed"), message=str(exc)))
            self._move("closed")
            raise
        self._move("ready")
        self._emit(Ready())
        self._pump = self._spawn(self._run_pump())
        return LiveOpenResult(channel_id=self.channel_id, transport=LiveTransport(transport="in_process"),
                              capabilities=capabilities_of(self.session), continuity=self.continuity,
                              turning_mode=self.turning_mode)

    async def close(self) -> ChannelStatus:
        """Commit a finished-but-held turn, close the provider socket, and mark the channel closed."""
        if self._state.name in ("closing", "closed"):
            return self.status
        self._move("closing")
        self._flush_pending()
        async with self._commit_lock:
            pass  # wait for queued commits to become durable
        await self._shutdown_io()
        self._fail_waiters(f"{self._where} was closed before the turn completed")
        self._move("closed")
        return self.status

    async def _shutdown_io(self) -> None:
        if self._adapter is not None:
            await self._adapter.close()
        current = asyncio.current_task()
        for task in [t for t in self._tasks if t is not current]:
            task.cancel()
        pending = [t for t in self._tasks if t is not current]
        if pending:
            await asyncio.wait(pending, timeout=5)
        self._tool_tasks.clear()

    def _fail_waiters(self, message: str) -> None:
        waiters, self._turn_waiters = self._turn_waiters, {}
        for waiter in waiters.values():
            if not waiter.done():
                waiter.set_exception(LiveProviderError(message))

    # -- caller operations ----------------------------------------------------------------------------
    def _require_ready(self, verb: str) -> RealtimeAdapter:
        if self._state.name != "ready" or self._adapter is None:
            remedy = "wait for it to reconnect" if self._state.name == "degraded" else "open a new channel"
            raise ChannelNotReadyError(f"{self._where} is {self._state.name}; cannot {verb}: {remedy}",
                                       details={"channel_id": self.channel_id, "status": self._state.name})
        return self._adapter

    async def send_input(self, chunk: InputChunk) -> None:
        """Audio (base64 pcm16 24 kHz mono) or text; bad input raises a typed error and the channel survives."""
        if isinstance(chunk, AudioChunk):
            pcm = decode_audio(chunk, self._where)
            adapter = self._require_ready("send input")
            del pcm  # validated; the provider takes the same base64 text
            await adapter.append_audio(chunk.data)
            self._audio_staged = True
            return
        if not isinstance(chunk, TextChunk):
            raise reject_unsupported(chunk, self._where)
        text = check_text(chunk, self._where)
        adapter = self._require_ready("send input")
        if self.turning_mode == "explicit_commit":
            self._staged_text.append(text)
            return
        await self._send_text(adapter, text)
        await self._request_response(adapter)

    async def send_pcm(self, pcm: bytes) -> None:
        """Raw pcm16 24 kHz mono (the live socket's binary frames), appended as it is."""
        check_pcm(pcm, self._where)
        adapter = self._require_ready("send input")
        await adapter.append_audio(base64.b64encode(pcm).decode())
        self._audio_staged = True

    async def _send_text(self, adapter: RealtimeAdapter, text: str, row: HistoryRow | None = None) -> str:
        """Send typed text; it is staged when the provider echoes the item, so history keeps provider order."""
        self._flush_pending()
        item_id = adapter.new_text_item_id()
        self._typed[item_id] = (text, row)
        await adapter.add_user_text(text, item_id)
        return item_id

    async def _request_response(self, adapter: RealtimeAdapter, modality: str | None = None) -> None:
        self._response_requested = True
        await adapter.create_response(modality)

    async def commit_input(self, modality: str | None = None) -> None:
        """Explicit-commit mode: commit staged audio/text and ask for a response (optionally text-only)."""
        adapter = self._require_ready("commit input")
        if self.turning_mode != "explicit_commit":
            raise LiveError(f"{self._where} uses provider_managed turns (server VAD commits); commit_input is only "
                            "valid for explicit_commit channels: reopen with turning_mode='explicit_commit'",
                            details={"kind": "commit_requires_explicit_commit"})
        if not self._audio_staged and not self._staged_text:
            raise LiveError(f"{self._where}: commit_input requires staged input; send audio or text first",
                            details={"kind": "commit_requires_staged_input"})
        if modality not in (None, "audio", "text"):
            raise LiveError(f"{self._where}: response modality must be 'audio' or 'text', not {modality!r}",
                            details={"kind": "invalid_response_modality"})
        self._flush_pending()
        if self._audio_staged:
            await adapter.commit_audio()
            self._audio_staged = False
        texts, self._staged_text = self._staged_text, []
        for text in texts:
            await self._send_text(adapter, text)
        await self._request_response(adapter, modality)

    async def interrupt(self) -> str | None:
        """Barge-in: cancel the active response; its unspoken rest never reaches history."""
        adapter = self._require_ready("interrupt")
        response_id = self._active_response
        if response_id is None:
            if self._response_requested:
                self._cancel_next = True  # the requested response is cancelled as soon as it starts
            return None
        self._stager.interrupt(response_id)
        self._emit(TurnInterrupted(response_id=response_id))
        await adapter.cancel_response()
        return response_id

    async def truncate(self, item_id: str, content_index: int, audio_played_ms: int) -> str:
        """Keep only what the client played of ``item_id``; returns the heard transcript."""
        adapter = self._require_ready("truncate")
        if audio_played_ms < 0 or content_index < 0:
            raise LiveError(f"{self._where}: audio_played_ms and content_index must be >= 0",
                            details={"kind": "invalid_truncate_cursor"})
        lanes = self._stager.item_response(item_id)
        heard = self._stager.truncate(item_id, audio_played_ms)
        if heard is None or lanes is None:
            raise LiveError(f"{self._where}: item {item_id!r} is not assistant audio of the current turn "
                            "(truncate before the turn is committed, using item_id from assistant_audio_chunk)",
                            details={"kind": "truncate_unknown_item", "item_id": item_id})
        self._truncations[item_id] = (heard, lanes.response_id)
        await adapter.truncate(item_id, content_index, audio_played_ms)
        if self._pending is not None and self._pending.hold_for_truncate:
            self._flush_pending()
        return heard

    async def refresh(self) -> None:
        """Re-apply instructions, tools and audio format in place; a model/provider swap needs close + open."""
        adapter = self._require_ready("refresh")
        if (self.session.model, self.session.provider) != (self.model, self.provider):
            raise LiveError(
                f"{self._where} is bound to {self.provider}/{self.model} but the session now uses "
                f"{self.session.provider}/{self.session.model}; a model or provider swap needs live/close + live/open",
                details={"kind": "refresh_model_swap", "from_model": self.model, "to_model": self.session.model})
        await adapter.update_session(self._provider_config())

    async def run_text_turn(self, text: str, row: HistoryRow | None = None) -> list[HistoryRow]:
        """A request/response turn through the open channel (text reply); returns the committed rows."""
        adapter = self._require_ready("run a turn")
        item_id = await self._send_text(adapter, check_text(TextChunk(text=text), self._where), row)
        waiter: asyncio.Future[list[HistoryRow]] = asyncio.get_running_loop().create_future()
        self._turn_waiters[item_id] = waiter
        await self._request_response(adapter, "text")
        return await waiter

    async def inject(self, row: HistoryRow, *, respond: bool = True) -> None:
        """Put a row (e.g. a peer-message notice) into the live conversation; it lands in history, as that
        row, at the next turn boundary."""
        adapter = self._require_ready("inject input")
        await self._send_text(adapter, row_text(row), row)
        if not respond:
            return
        if self._active_response is not None or self._response_requested:
            self._respond_next = True  # the provider refuses a second response while one runs
        else:
            await self._request_response(adapter)

    # -- provider events ------------------------------------------------------------------------------
    async def _run_pump(self) -> None:
        while True:
            adapter = self._adapter
            if adapter is None:
                return
            reason = "provider closed the connection"
            try:
                async for event in adapter.events():
                    try:
                        self._handle(event)
                    except Exception:  # a mapping bug must not kill the channel
                        log.exception("%s: failed to handle provider event %s", self._where, event.type)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if adapter.closing or self._state.name in ("closing", "closed"):
                return
            if not await self._reconnect(reason):
                return

    def _handle(self, event: Any) -> None:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)

    def _on_response_created(self, event: Any) -> None:
        self._flush_pending()
        response_id = event.response.id
        self._active_response = response_id
        self._response_requested = False
        self._stager.seal_inputs()
        self._stager.response(response_id)
        if self._cancel_next and self._adapter is not None:
            self._cancel_next = False
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
            self._spawn(self._adapter.cancel_response())

    def _on_text_delta(self, event: Any) -> None:
        self._stager.add_display(event.response_id, event.item_id, event.delta)
        self._emit(AssistantTextDelta(delta=event.delta, provider_item_id=event.item_id,
                                      content_index=event.content_index, response_id=event.response_id))

    def _on_transcript_delta(self, event: Any) -> None:
        if self._stager.add_spoken(event.response_id, event.item_id, event.delta):
            self._emit(AssistantTranscriptDelta(delta=event.delta, provider_item_id=event.item_id,
                                                content_index=event.content_index, response_id=event.response_id))

    def _on_audio_delta(self, event: Any) -> None:
        size = len(event.delta) * 3 // 4 - event.delta[-2:].count("=")
        if self._stager.add_audio(event.response_id, event.item_id, size / 48.0):
            self._emit(AssistantAudioChunk(data=event.delta, response_id=event.response_id, item_id=event.item_id,
                                           content_index=event.content_index))

    def _on_transcript_done(self, event: Any) -> None:
        if self._stager.finish_spoken(event.response_id, event.item_id, event.transcript):
            self._emit(AssistantTranscriptFinal(provider_item_id=event.item_id, text=event.transcript,
                                                content_index=event.content_index, response_id=event.response_id))

    def _on_function_call(self, event: Any) -> None:
        try:
            args = json.loads(event.arguments or "{}")
        except json.JSONDecodeError:
            args = {"_raw": event.arguments}
        self._emit(ToolCallRequested(provider_call_id=event.call_id, tool_name=event.name,
                                     arguments=args if isinstance(args, dict) else {"_raw": args}))
        arguments = args if isinstance(args, dict) else {"_raw": args}
        self._stager.add_tool_call(event.response_id, event.call_id, event.name, arguments)
        task = self._spawn(self._run_tool(event.response_id, event.call_id, event.name, event.arguments))
        self._tool_tasks.setdefault(event.response_id, []).append(task)

    async def _run_tool(self, response_id: str, call_id: str, name: str, arguments: str) -> None:
        outcome = await self.session.tools.call(name, arguments, timeout=self.tool_timeout_s)
        self._stager.add_tool_result(response_id, call_id, outcome.content, outcome.is_error)
        output = json.dumps({"error": outcome.content}) if outcome.is_error else outcome.content
        if self._adapter is not None:
            await self._adapter.add_tool_output(call_id, output)

    def _on_truncated(self, event: Any) -> None:
        heard, response_id = self._truncations.pop(event.item_id, (None, None))
        self._emit(AssistantTranscriptTruncated(provider_item_id=event.item_id, audio_end_ms=event.audio_end_ms,
                                                text=heard, response_id=response_id))

    def _on_speech_started(self, event: Any) -> None:
        response_id = self._active_response
        if response_id is not None and self._stager.response(response_id).audio_ms:
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
        else:
            self._flush_pending()

    def _on_input_committed(self, event: Any) -> None:
        self._flush_pending()  # newly committed input starts the next turn
        self._awaiting_transcripts.add(event.item_id)
        self._stager.reserve_user(event.item_id)

    def _on_item_added(self, event: Any) -> None:
        item_id = event.item.id
        typed = self._typed.pop(item_id, None) if item_id else None
        if typed is not None:
            text, row = typed
            self._stager.stage_user(row if row is not None else text, item_id)
            self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=0))

    def _on_transcription(self, event: Any) -> None:
        self._stage_transcript(event.item_id, event.transcript, event.content_index)

    def _on_transcription_failed(self, event: Any) -> None:
        self._stage_transcript(event.item_id, UNTRANSCRIBED, event.content_index)

    def _stage_transcript(self, item_id: str, text: str, content_index: int | None) -> None:
        if item_id in self._given_up:  # its turn is already committed (as UNTRANSCRIBED): say it, stage nothing
            self._given_up.discard(item_id)
            log.info("%s: transcript of %s arrived after its turn was committed", self._where, item_id)
            self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=content_index))
            return
        pending = self._pending
        for_pending = pending is not None and item_id in pending.awaiting
        if pending is not None and not for_pending:
            self._flush_pending()
        self._awaiting_transcripts.discard(item_id)
        self._stager.stage_user(text, item_id)
        self._emit(UserTranscriptFinal(text=text, provider_item_id=item_id, content_index=content_index))
        if pending is not None and for_pending:
            pending.awaiting.discard(item_id)
            if not pending.awaiting and not pending.hold_for_truncate:
                self._flush_pending()

    def _on_response_done(self, event: Any) -> None:
        response = event.response
        response_id = response.id
        if response_id == self._active_response:
            self._active_response = None
        lanes = self._stager.response(response_id)
        if response.usage is not None:
            lanes.usage = Usage(input_tokens=response.usage.input_tokens or 0,
                                output_tokens=response.usage.output_tokens or 0,
                                total_tokens=response.usage.total_tokens or 0)
        tools = self._tool_tasks.pop(response_id, [])
        if tools and response.status == "completed":
            self._respond_next = False  # the response after the tools answers what came in meanwhile too
            self._spawn(self._continue_after_tools(tools))
            return
        if self._respond_next and self._active_response is None:
            self._respond_next = False
            self._spawn(self._respond_deferred())
        interrupted = lanes.interrupted or response.status == "cancelled"
        if interrupted and not lanes.interrupted:
            self._stager.interrupt(response_id)
            self._emit(TurnInterrupted(response_id=response_id))
        stop = "cancelled" if interrupted else _STOP_BY_STATUS.get(response.status or "completed", "end_turn")
        self._pend(stop, response_id, hold_for_truncate=interrupted and bool(lanes.audio_ms))

    async def _respond_deferred(self) -> None:
        """The response an injected row asked for while another response ran (it is in the conversation)."""
        if self._adapter is not None and self._state.name == "ready" and self._active_response is None \
                and not self._response_requested:
            await self._request_response(self._adapter)

    async def _continue_after_tools(self, tools: list[asyncio.Task[None]]) -> None:
        await asyncio.gather(*tools, return_exceptions=True)
        if self._adapter is not None and self._state.name == "ready":
            await self._request_response(self._adapter)

    def _on_error(self, event: Any) -> None:
        error = event.error
        if error.code == "conversation_already_has_active_response" and self._response_requested:
            # A response started (e.g. by server VAD) just before ours was asked for: ask again when it ends.
            log.debug("%s: response requested while one was active; requesting it again after", self._where)
            self._response_requested = False
            if self._active_response is None:  # that one has ended already
                self._spawn(self._respond_deferred())
            else:
                self._respond_next = True
            return
        self._emit(CommandRejected(code=ErrorCode(code="provider_error", raw=error.code),
                                   message=f"{self._where}: provider error: {error.message}"))

    # -- committing -------------------------------------------------------------------------------------
    def _pend(self, stop: StopReason, response_id: str | None, *, hold_for_truncate: bool) -> None:
        self._flush_pending()
        pending = self._pending = _PendingCommit(stop, response_id, hold_for_truncate=hold_for_truncate,
                                                 awaiting=set(self._awaiting_transcripts))
        self._awaiting_transcripts.clear()
        wait = self.truncate_grace_s if hold_for_truncate else 0.0
        if pending.awaiting:
            wait = max(wait, TRANSCRIPT_WAIT_S)
        if wait <= 0:
            self._flush_pending()
        else:
            pending.timer = asyncio.get_running_loop().call_later(wait, self._flush_pending)

    def _flush_pending(self) -> None:
        """Take the finished turn's rows now (synchronously) and write them in order."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        self._given_up |= pending.awaiting
        usage = self._stager.responses[pending.response_id].usage \
            if pending.response_id in self._stager.responses else Usage()
        rows, item_ids = self._stager.take_turn(pending.stop_reason)
        if rows:
            self._spawn(self._write_turn(rows, pending.stop_reason, pending.response_id, usage, item_ids))

    async def _write_turn(self, rows: list[HistoryRow], stop: StopReason, response_id: str | None,
                          usage: Usage, item_ids: list[str]) -> None:
        async with self._commit_lock:
            waiters = [w for i in item_ids if (w := self._turn_waiters.pop(i, None)) is not None]
            turn_id = f"{self.channel_id}:{response_id or uuid.uuid4().hex}"
            try:
                await asyncio.to_thread(self.session.commit, rows, turn_id=turn_id)
            except Exception as exc:  # the turn is lost: say so, never hang a waiter
                message = f"{self._where}: the turn could not be committed: {type(exc).__name__}: {exc}"
                log.error(message)
                self._emit(CommandRejected(code=ErrorCode(code="internal_error"), message=message))
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(LiveError(message))
                return
            self.committed_turns += 1
            self._emit(TurnCompleted(stop_reason=stop, response_id=response_id, committed_messages=len(rows),
                                     usage=TurnUsage(**usage.model_dump())))
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(rows)

    # -- provider drop ------------------------------------------------------------------------------------
    async def _reconnect(self, reason: str) -> bool:
        self._move("degraded", DegradedReason(kind="network_unstable", detail=reason))
        self._flush_pending()
        self._stager.reset()
        self._active_response = None
        self._awaiting_transcripts.clear()
        self._given_up.clear()
        self._staged_text, self._audio_staged = [], False
        self._typed.clear()
        self._response_requested = self._cancel_next = self._respond_next = False
        self._fail_waiters(f"{self._where}: provider connection dropped mid-turn; the turn was not committed")
        for tasks in self._tool_tasks.values():
            for task in tasks:
                task.cancel()
        self._tool_tasks.clear()
        old, self._adapter = self._adapter, None
        if old is not None:
            await old.close()
        async with self._commit_lock:
            pass  # re-seed only after every finished turn is durable
        last_error = reason
        for attempt in range(self.reconnect_policy.attempts):
            await asyncio.sleep(self.reconnect_policy.delay(attempt))
            if self._state.name != "degraded":
                return False
            try:
                self.continuity = await self._connect()
            except LiveProviderError as exc:
                last_error = str(exc)
                continue
            self._move("ready")
            self._emit(Ready())
            return True
        self._emit(LiveErrorObservation(
            code=ErrorCode(code="connection_lost"),
            message=f"{self._where}: provider connection lost and {self.reconnect_policy.attempts} reconnect "
                    f"attempts failed ({last_error}); committed history is intact, open a new channel"))
        self._move("closed")
        return False


_HANDLERS: dict[str, Callable[[LiveChannel, Any], None]] = {
    "response.created": LiveChannel._on_response_created,
    "response.output_text.delta": LiveChannel._on_text_delta,
    "response.output_audio_transcript.delta": LiveChannel._on_transcript_delta,
    "response.output_audio.delta": LiveChannel._on_audio_delta,
    "response.output_audio_transcript.done": LiveChannel._on_transcript_done,
    "response.function_call_arguments.done": LiveChannel._on_function_call,
    "response.done": LiveChannel._on_response_done,
    "conversation.item.truncated": LiveChannel._on_truncated,
    "input_audio_buffer.speech_started": LiveChannel._on_speech_started,
    "input_audio_buffer.committed": LiveChannel._on_input_committed,
    "conversation.item.added": LiveChannel._on_item_added,
    "conversation.item.input_audio_transcription.completed": LiveChannel._on_transcription,
    "conversation.item.input_audio_transcription.failed": LiveChannel._on_transcription_failed,
    "error": LiveChannel._on_error,
}

__all__ = ["SEED_PREFIX", "LiveChannel", "ReconnectPolicy", "capabilities_of"]
