"""A session: one canonical history, its tools and model; request/response turns committed atomically."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict

from mobkat.catalog import ModelProfile
from mobkat.errors import InvalidInputError, SessionBusyError, SessionNotFoundError
from mobkat.history import (
    AssistantBlock,
    BlockAssistantRow,
    HistoryRow,
    StopReason,
    SystemNoticeRow,
    ToolResult,
    ToolResultsRow,
    Usage,
    UserRow,
    utc_now,
)
from mobkat.providers.chat import (
    ModelReply,
    chat_request_body,
    complete_body,
    history_to_chat_messages,
    messages_json,
)
from mobkat.providers.realtime_call import realtime_complete
from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS, RealtimeSeed
from mobkat.session import turn_events
from mobkat.session.events import EventSink, SessionEvent, deliver, ignore_event
from mobkat.session.history_log import HistoryLog, stored_form
from mobkat.session.services import SessionServices
from mobkat.session.tools import DEFAULT_TOOL_TIMEOUT, ToolRegistry
from mobkat.store import CommittedTurn, SessionMeta

MAX_MODEL_CALLS = 16


class TurnResult(BaseModel):
    """The outcome of one committed turn (the wire form is Meerkat's ``WireRunResult``)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    text: str
    turns: int
    tool_calls: int
    usage: Usage
    stop_reason: StopReason
    rows: list[HistoryRow]

    def to_wire(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "text": self.text,
            "turns": self.turns,
            "tool_calls": self.tool_calls,
            "usage": self.usage.model_dump(),
            "structured_output": None,
            "schema_warnings": None,
        }


def _add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(input_tokens=a.input_tokens + b.input_tokens, output_tokens=a.output_tokens + b.output_tokens,
                 total_tokens=a.total_tokens + b.total_tokens)


class Session:
    """Owns id, model, provider, instructions, tools and history. Use :meth:`create` or :meth:`load`.

    The committed history is read from the store once, when the session is constructed, and kept in
    memory (:class:`HistoryLog`); every commit appends to it, so turns never re-read the store.
    """

    def __init__(self, meta: SessionMeta, services: SessionServices, tools: ToolRegistry | None = None,
                 *, history: Sequence[HistoryRow] | None = None, defer_history: bool = False) -> None:
        """``history``: the session's committed rows when the caller knows them (``[]`` for a new session);
        ``None`` reads them from the store, once: now, or with ``defer_history`` on first use (or
        :meth:`load_history`), on the thread that gets there first."""
        self._meta = meta
        self.services = services
        self.tools = tools if tools is not None else ToolRegistry()
        if self.tools.fallback is None and self.tools is not services.shared_tools:
            self.tools.fallback = services.shared_tools  # e.g. callback tools clients registered
        self.tool_timeout = DEFAULT_TOOL_TIMEOUT
        self._busy = threading.Lock()
        self._steered: deque[HistoryRow] = deque()
        self._commit_lock = threading.Lock()
        if history is not None:
            self._log = HistoryLog(history)
        elif defer_history:
            self._log = HistoryLog(loader=partial(services.store.history, meta.session_id))
        else:
            self._log = HistoryLog(services.store.history(meta.session_id))

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        services: SessionServices,
        *,
        model: str | None = None,
        provider: str | None = None,
        instructions: str = "",
        tools: ToolRegistry | None = None,
        session_id: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Session:
        """Create and persist a new, idle session. The model defaults to config's ``default_model``."""
        model_id = model or services.config.default_model or services.catalog.default_model()
        profile = services.catalog.resolve(model_id, provider)
        now = utc_now()
        meta = SessionMeta(session_id=session_id or str(uuid.uuid4()), model=profile.id, provider=profile.provider,
                           instructions=instructions, created_at=now, updated_at=now, labels=labels or {})
        services.store.create_session(meta)
        return cls(meta, services, tools, history=[])

    @classmethod
    def load(cls, services: SessionServices, session_id: str, tools: ToolRegistry | None = None, *,
             defer_history: bool = False) -> Session:
        """Reopen a stored session: its metadata and (once) its history are read from the store.

        ``defer_history``: read only the metadata now; the history is read on first use or by
        :meth:`load_history` (a mob restarts a member this way: the new member reads it on its own thread)."""
        meta = services.store.get_session(session_id)
        if meta is None:
            raise SessionNotFoundError(f"session {session_id} not found", details={"session_id": session_id})
        return cls(meta, services, tools, defer_history=defer_history)

    # -- facts ----------------------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self._meta.session_id

    @property
    def meta(self) -> SessionMeta:
        return self._meta

    @property
    def model(self) -> str:
        return self._meta.model

    @property
    def provider(self) -> str:
        return self._meta.provider

    @property
    def instructions(self) -> str:
        return self._meta.instructions

    @property
    def profile(self) -> ModelProfile:
        return self.services.catalog.resolve(self.model, self.provider)

    @property
    def idle(self) -> bool:
        """True until the session has committed its first turn."""
        return self._meta.turn_count == 0

    def load_history(self) -> None:
        """Read a deferred history from the store now, on this thread (a no-op once it is in memory)."""
        self._log.load()

    def history(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed rows from ``offset``, at most ``limit`` (from memory: O(rows returned), any thread)."""
        return self._log.rows(offset, limit)

    @property
    def message_count(self) -> int:
        """Number of committed rows."""
        return len(self._log)

    def chat_messages(self, staged: Sequence[HistoryRow] = ()) -> list[dict[str, Any]]:
        """The Chat Completions messages a model call sends: instructions, the committed history, ``staged``
        (projected on each call, for inspection: the call itself sends :meth:`chat_request`)."""
        head = [{"role": "system", "content": self.instructions}] if self.instructions else []
        return self._log.chat_messages(head, history_to_chat_messages("", staged))

    def chat_request(self, staged: Sequence[HistoryRow] = ()) -> bytes:
        """The Chat Completions request body a model call sends (streamed; :meth:`chat_messages` as JSON).

        The committed rows' JSON is encoded once and kept: a call encodes the instructions, the tools and
        ``staged``, and copies the rest."""
        head = messages_json([{"role": "system", "content": self.instructions}]) if self.instructions else b""
        tail = messages_json(history_to_chat_messages("", staged))
        return chat_request_body(self.model, self._log.chat_json(head, tail), self.tools.specs())

    def realtime_seed(self, max_chars: int | None = DEFAULT_SEED_MAX_CHARS,
                      tail: Sequence[HistoryRow] = ()) -> RealtimeSeed:
        """The committed history as Realtime seed items under a window of ``max_chars`` (None: all), then
        ``tail`` (see :func:`mobkat.providers.realtime_items.build_seed`)."""
        return self._log.realtime_seed(max_chars, tail)

    def set_instructions(self, instructions: str) -> None:
        self._meta = self._meta.model_copy(update={"instructions": instructions, "updated_at": utc_now()})
        self.services.store.update_session(self._meta)

    def set_model(self, model: str, provider: str | None = None) -> None:
        """Swap model/provider (a live channel must be closed and reopened for it to take effect)."""
        profile = self.services.catalog.resolve(model, provider)
        self._meta = self._meta.model_copy(update={"model": profile.id, "provider": profile.provider,
                                                   "updated_at": utc_now()})
        self.services.store.update_session(self._meta)

    # -- committing -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a request/response turn is in progress."""
        return self._busy.locked()

    def steer(self, row: HistoryRow) -> bool:
        """Add ``row`` to the running turn at its next model call; False (not taken) when no turn runs."""
        if not self.running:
            return False
        self._steered.append(row)
        return True

    def _take_steered(self) -> list[HistoryRow]:
        rows = []
        while self._steered:
            rows.append(self._steered.popleft())
        return rows

    def take_unconsumed_steers(self) -> list[HistoryRow]:
        """Steered rows that arrived too late for the turn that just ended (run them as the next turn)."""
        return self._take_steered()

    def commit(self, rows: Sequence[HistoryRow], *, turn_id: str | None = None) -> CommittedTurn:
        """Append one turn's rows atomically (live turns commit through here too). Thread-safe."""
        with self._commit_lock:
            return self._commit(rows, turn_id)

    def _commit(self, rows: Sequence[HistoryRow], turn_id: str | None) -> CommittedTurn:
        meta = self._meta.model_copy(update={"turn_count": self._meta.turn_count + 1, "updated_at": utc_now()})
        known = len(self._log)
        committed = self.services.store.commit_turn(self.id, rows, meta=meta, turn_id=turn_id)
        if committed.message_count == known + len(rows):  # the store's rows [known, known + len) are these
            self._log.append([stored_form(row) for row in rows])
        else:  # a turn_id seen before, or another writer committed too: take what the store has beyond ours
            self._log.append(self.services.store.history(self.id, offset=known))
        refreshed = self.services.store.get_session(self.id)
        self._meta = refreshed if refreshed is not None else meta
        return committed

    # -- request/response turns -------------------------------------------------------------------
    def run_turn(self, user_input: TurnInput, *, on_event: EventSink = ignore_event,
                 timeout: float | None = 300.0) -> TurnResult:
        """Run one turn on the services' I/O loop and wait for it (blocking)."""
        self.services.runtime.start()
        return self.services.runtime.run(self.run_turn_async(user_input, on_event=on_event), timeout)

    async def run_turn_async(self, user_input: TurnInput, *, on_event: EventSink = ignore_event) -> TurnResult:
        """One request/response turn, including the tool-call loop; commits only when it completes.

        ``user_input`` is text (a user row), a row (e.g. a peer-message notice) or several rows that
        open the turn together. Rows passed to :meth:`steer` while the turn runs join it before the
        next model call.
        """
        if not self._busy.acquire(blocking=False):
            raise SessionBusyError(f"session {self.id} is already running a turn; wait for it to finish")
        emit = self._emitter(on_event)
        try:
            return await self._run_turn(user_input, emit)
        except Exception as exc:
            emit(turn_events.run_failed(self.id, exc))
            raise
        finally:
            self._busy.release()

    def _emitter(self, sink: EventSink) -> EventSink:
        """Each event is stamped once (the services' hub: subscribers see it), then handed to ``sink``."""
        hub = self.services.events

        def emit(event: SessionEvent) -> None:
            deliver(sink, hub.publish(self.id, event))

        return emit

    async def _run_turn(self, user_input: TurnInput, emit: EventSink) -> TurnResult:
        staged: list[HistoryRow] = opening_rows(user_input)
        usage, calls_made, tool_calls = Usage(), 0, 0
        emit(turn_events.run_started(self.id, staged))
        reply = ModelReply("")
        while calls_made < MAX_MODEL_CALLS:
            staged += self._take_steered()
            emit(turn_events.turn_started(calls_made))
            reply = await self._call_model(staged, emit)
            calls_made += 1
            usage = _add_usage(usage, reply.usage)
            blocks = [AssistantBlock.text(reply.text)] if reply.text else []
            args_by_call = {c.call_id: _parse_args(c.arguments) for c in reply.tool_calls}
            blocks += [AssistantBlock.tool_use(c.call_id, c.name, args_by_call[c.call_id]) for c in reply.tool_calls]
            staged.append(BlockAssistantRow(blocks=blocks, stop_reason=reply.stop_reason, usage=reply.usage))
            if reply.text:
                emit(SessionEvent(type="text_complete", content=reply.text))
            emit(turn_events.turn_completed(reply.stop_reason, reply.usage))
            if not reply.tool_calls:
                break
            results = []
            for call in reply.tool_calls:
                tool_calls += 1
                for event in turn_events.tool_requested(call.call_id, call.name, args_by_call[call.call_id]):
                    emit(event)
                started = time.monotonic()
                outcome = await self.tools.call(call.name, call.arguments, timeout=self.tool_timeout,
                                                 call_id=call.call_id)
                took_ms = int((time.monotonic() - started) * 1000)
                for event in turn_events.tool_finished(call.call_id, call.name, outcome.content, outcome.is_error,
                                                       took_ms, outcome.timeout_s):
                    emit(event)
                results.append(ToolResult(tool_use_id=call.call_id, content=outcome.content,
                                          is_error=outcome.is_error))
            staged.append(ToolResultsRow(results=results))
        await self._commit_off_loop(staged)
        result = TurnResult(session_id=self.id, text=reply.text, turns=calls_made, tool_calls=tool_calls,
                            usage=usage, stop_reason=reply.stop_reason, rows=staged)
        emit(turn_events.run_completed(self.id, reply.text, usage))
        return result

    async def _commit_off_loop(self, rows: Sequence[HistoryRow]) -> None:
        """:meth:`commit` on a worker thread, awaited: the store's durable write (an fsync, a database round
        trip) does not stall the I/O loop, which serves every other session and live channel meanwhile. The
        turn returns only once its rows are committed. A commit, once started, finishes and the turn with it:
        a cancel arriving meanwhile is absorbed (an interrupted turn commits nothing, and a committed one was
        not interrupted), as when the commit ran on the loop, where no cancel could reach it."""
        commit = asyncio.get_running_loop().run_in_executor(None, self.commit, rows)
        absorbed = 0
        while not commit.done():
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                if commit.cancelled():  # the executor shut down before it ran: nothing was committed
                    raise
                absorbed += 1
        task = asyncio.current_task()
        if task is not None:
            for _ in range(absorbed):
                task.uncancel()
        commit.result()  # the commit's own error, if any

    async def _call_model(self, staged: list[HistoryRow], emit: EventSink) -> ModelReply:
        """One model call on the committed history plus this turn's ``staged`` rows."""
        client = self.services.client_for(self.provider)

        def delta(text: str) -> None:
            emit(SessionEvent(type="text_delta", delta=text))

        if self.profile.capabilities.realtime:
            seed = self._log.realtime_seed(DEFAULT_SEED_MAX_CHARS, staged)
            return await realtime_complete(client, self.model, self.instructions, seed.items,
                                           self.tools.realtime_specs(), on_text_delta=delta)
        return await complete_body(client, self.model, self.chat_request(staged), on_text_delta=delta)


TurnInput = str | HistoryRow | Sequence[HistoryRow]


def opening_rows(user_input: TurnInput) -> list[HistoryRow]:
    """The rows a turn starts with."""
    if isinstance(user_input, str):
        return [UserRow(content=user_input)]
    if isinstance(user_input, Sequence):
        rows: list[HistoryRow] = [row for row in user_input if not isinstance(row, str)]
        if not rows:
            raise InvalidInputError("a turn needs at least one input row")
        return rows
    return [user_input]


def _parse_args(arguments: str) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": value}


def notice(body: str, *, kind: str = "comms", blocks: list[dict[str, Any]] | None = None) -> SystemNoticeRow:
    """A typed notice row that opens a turn (e.g. a peer message)."""
    return SystemNoticeRow(kind=kind, body=body, blocks=blocks)
