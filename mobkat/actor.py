"""SessionActor: the pykka actor that owns one Session and at most one LiveChannel.

Every operation on a session goes through its actor. Slow work (model turns, provider I/O) runs
on the services' I/O loop; the actor hands it there and never blocks on another actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import pykka

from mobkat.errors import (
    ChannelAlreadyBoundError,
    ChannelNotFoundError,
    LiveError,
    ModelNotRealtimeError,
    SessionIdleError,
    TurnNotInterruptibleError,
)
from mobkat.history import BlockAssistantRow, HistoryRow, Usage, row_text
from mobkat.live.channel import LiveChannel, ReconnectPolicy
from mobkat.live.inputs import parse_chunk
from mobkat.live.wire import ChannelStatus, InputChunk, LiveOpenResult, Observation, TurningMode
from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS
from mobkat.runtime import AsyncRuntime
from mobkat.session.events import EventSink, ignore_event
from mobkat.session.session import Session, TurnInput, TurnResult, opening_rows

T = TypeVar("T")
ASK_TIMEOUT = 30.0
LIVE_OP_TIMEOUT = 20.0


class SessionActor(pykka.ThreadingActor):
    """Owns one session and its (at most one) live channel; closed channels stay readable."""

    def __init__(self, session: Session, *, reconnect: ReconnectPolicy | None = None,
                 truncate_grace_s: float = 0.3, tool_timeout_s: float = 30.0) -> None:
        super().__init__()
        self.session = session
        self.channel: LiveChannel | None = None
        self.closed_channels: dict[str, LiveChannel] = {}
        self._reconnect = reconnect
        self._truncate_grace_s = truncate_grace_s
        self._tool_timeout_s = tool_timeout_s
        self._request_turn: _RequestTurn | None = None

    @property
    def _runtime(self) -> AsyncRuntime:
        return self.session.services.runtime

    def _start_actor_loop(self) -> None:
        """pykka registers the actor before its thread starts; if the thread cannot start (resources
        exhausted), take it out of the registry again so a failed spawn leaves nothing behind."""
        try:
            super()._start_actor_loop()
        except BaseException:
            pykka.ActorRegistry.unregister(self.actor_ref)
            raise

    def on_stop(self) -> None:
        if self.channel is not None:
            try:
                self._runtime.run(self.channel.close(), timeout=LIVE_OP_TIMEOUT)
            except Exception as exc:  # stopping must finish even if the provider is gone
                self.session.services.stop_failed(
                    f"live channel {self.channel.channel_id} (session {self.session.id}): close", exc)
            self._retire_channel()

    # -- turns -------------------------------------------------------------------------------------
    def start_turn(self, user_input: TurnInput,
                   on_event: EventSink = ignore_event) -> concurrent.futures.Future[TurnResult]:
        """Start a turn on the I/O loop; through the live channel when one is open."""
        self._runtime.start()
        channel = self._open_channel()
        if channel is not None:
            run: Callable[[], Awaitable[TurnResult]] = partial(self._live_turn, channel, user_input)
        else:
            run = partial(self.session.run_turn_async, user_input, on_event=on_event)
        turn = _RequestTurn(live=channel is not None)
        turn.future = self._runtime.submit(turn.run(run))
        current = self._request_turn
        if current is None or current.future is None or current.future.done():
            self._request_turn = turn  # else this one meets the running turn and fails as busy
        return turn.future

    def interrupt_turn(self) -> bool:
        """Cancel the request/response turn :meth:`start_turn` started and wait until it has unwound.

        True when a turn was cancelled (it committed nothing; the session can run turns again), False
        when none was running. :class:`TurnNotInterruptibleError` for a turn this cannot cancel: one
        running through the live channel, or one this actor did not start here (a mob member's own)."""
        turn = self._request_turn
        if turn is not None and turn.future is not None and not turn.future.done():
            if turn.live:
                raise TurnNotInterruptibleError(
                    f"session {self.session.id} is running a turn through its live channel; interrupt it with "
                    "live/interrupt", details={"session_id": self.session.id, "live": True})
            return self._runtime.run(turn.cancel(), timeout=LIVE_OP_TIMEOUT)
        if self.session.running:
            raise TurnNotInterruptibleError(
                f"session {self.session.id} is running a turn that turn/interrupt cannot cancel (one it did "
                "not start through turn/start, e.g. a mob member's inbox turn)",
                details={"session_id": self.session.id})
        return False

    async def _live_turn(self, channel: LiveChannel, user_input: TurnInput) -> TurnResult:
        if isinstance(user_input, str):
            return _live_result(self.session.id, await channel.run_text_turn(user_input))
        *context, last = opening_rows(user_input)
        for row in context:  # earlier rows join the conversation as they are, without a reply of their own
            await channel.inject(row, respond=False)
        return _live_result(self.session.id, await channel.run_text_turn(row_text(last), last))

    def history(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        return self.session.history(offset, limit)

    def session_info(self) -> dict[str, Any]:
        channel = self._open_channel()
        return {"session_id": self.session.id, "model": self.session.model, "provider": self.session.provider,
                "idle": self.session.idle, "message_count": self.session.services.store.message_count(self.session.id),
                "live_channel_id": channel.channel_id if channel else None}

    def set_instructions(self, instructions: str) -> None:
        self.session.set_instructions(instructions)

    def set_model(self, model: str, provider: str | None = None) -> None:
        self.session.set_model(model, provider)

    # -- live channel ------------------------------------------------------------------------------
    def _open_channel(self) -> LiveChannel | None:
        if self.channel is not None and self.channel.status.status == "closed":
            self._retire_channel()
        return self.channel

    def _retire_channel(self) -> None:
        if self.channel is not None:
            self.closed_channels[self.channel.channel_id] = self.channel
            self.channel = None

    def _channel(self, channel_id: str) -> LiveChannel:
        channel = self._open_channel()
        if channel is not None and channel.channel_id == channel_id:
            return channel
        closed = self.closed_channels.get(channel_id)
        if closed is not None:
            return closed
        raise ChannelNotFoundError(f"channel {channel_id} not found on session {self.session.id}",
                                   details={"channel_id": channel_id})

    def live_open(self, turning_mode: TurningMode = "provider_managed", voice: str | None = None,
                  observer: Callable[[Observation], None] | None = None,
                  seed_max_chars: int | None = DEFAULT_SEED_MAX_CHARS) -> LiveOpenResult:
        """Open the session's live channel: realtime model, non-idle session, no channel yet.

        ``seed_max_chars`` is the seed window (None: seed the whole history; see docs/live.md)."""
        session = self.session
        profile = session.profile
        if not profile.capabilities.realtime:
            raise ModelNotRealtimeError(
                f"model {session.model} (provider {session.provider}) does not support realtime; session "
                f"{session.id} cannot open a live channel: use a realtime model such as gpt-realtime-2",
                details={"session_id": session.id, "model": session.model, "provider": session.provider})
        if session.idle:
            raise SessionIdleError(
                f"session {session.id} is idle (it has never run a turn) and cannot host a live channel: "
                "start a turn or spawn the member first", details={"session_id": session.id})
        modes = profile.capabilities.turn_modes()
        if turning_mode not in modes:
            raise LiveError(f"session {session.id}: turning mode {turning_mode!r} is not supported by "
                            f"{session.model}; use one of: {', '.join(modes)}",
                            details={"kind": "unsupported_turning_mode", "supported": list(modes)})
        current = self._open_channel()
        if current is not None:
            raise ChannelAlreadyBoundError(
                f"session {session.id} already has an active live channel {current.channel_id}: "
                "close it with live/close before opening another",
                details={"session_id": session.id, "channel_id": current.channel_id})
        self._runtime.start()
        kwargs: dict[str, Any] = {"turning_mode": turning_mode, "reconnect": self._reconnect,
                                  "truncate_grace_s": self._truncate_grace_s, "tool_timeout_s": self._tool_timeout_s,
                                  "seed_max_chars": seed_max_chars}
        if voice:
            kwargs["voice"] = voice
        channel = LiveChannel(session, **kwargs)
        if observer is not None:
            channel.subscribe(observer)
        self.channel = channel
        try:
            return self._runtime.run(channel.open(), timeout=LIVE_OP_TIMEOUT)
        except BaseException:
            self.channel = None
            self.closed_channels[channel.channel_id] = channel
            try:
                self._runtime.run(channel.close(), timeout=LIVE_OP_TIMEOUT)
            except Exception as exc:  # the open already failed: its error is the one raised
                session.services.stop_failed(
                    f"live channel {channel.channel_id} (session {session.id}): close after a failed open", exc)
            raise

    def live_subscribe(self, channel_id: str, observer: Callable[[Observation], None]) -> None:
        self._channel(channel_id).subscribe(observer)

    def live_status(self, channel_id: str) -> ChannelStatus:
        return self._channel(channel_id).status

    def live_channel_id(self) -> str | None:
        channel = self._open_channel()
        return channel.channel_id if channel else None

    def live_channel(self, channel_id: str) -> LiveChannel:
        """The channel itself, for code on the services' I/O loop that streams input into it (the live
        socket): a 20 ms audio frame should not cost a round trip through this actor's thread."""
        return self._channel(channel_id)

    def live_send_input(self, channel_id: str, chunk: InputChunk | dict[str, Any]) -> None:
        channel = self._channel(channel_id)
        parsed = parse_chunk(chunk, f"live channel {channel_id}") if isinstance(chunk, dict) else chunk
        self._runtime.run(channel.send_input(parsed), timeout=LIVE_OP_TIMEOUT)

    def live_commit_input(self, channel_id: str, modality: str | None = None) -> None:
        self._runtime.run(self._channel(channel_id).commit_input(modality), timeout=LIVE_OP_TIMEOUT)

    def live_interrupt(self, channel_id: str) -> str | None:
        return self._runtime.run(self._channel(channel_id).interrupt(), timeout=LIVE_OP_TIMEOUT)

    def live_truncate(self, channel_id: str, item_id: str, content_index: int, audio_played_ms: int) -> str:
        channel = self._channel(channel_id)
        return self._runtime.run(channel.truncate(item_id, content_index, audio_played_ms), timeout=LIVE_OP_TIMEOUT)

    def live_refresh(self, channel_id: str) -> None:
        self._runtime.run(self._channel(channel_id).refresh(), timeout=LIVE_OP_TIMEOUT)

    def live_inject(self, row: HistoryRow, respond: bool = True) -> bool:
        """Put a row into the open live conversation; False when no channel is ready for it."""
        channel = self._open_channel()
        if channel is None or channel.status.status != "ready":
            return False
        self._runtime.run(channel.inject(row, respond=respond), timeout=LIVE_OP_TIMEOUT)
        return True

    def live_close(self, channel_id: str) -> ChannelStatus:
        channel = self._channel(channel_id)
        status = self._runtime.run(channel.close(), timeout=LIVE_OP_TIMEOUT)
        if channel is self.channel:
            self._retire_channel()
        return status


class _RequestTurn:
    """One turn started by :meth:`SessionActor.start_turn`: its future and, once it runs, its task."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.future: concurrent.futures.Future[TurnResult] | None = None
        self.task: asyncio.Task[Any] | None = None

    async def run(self, turn: Callable[[], Awaitable[TurnResult]]) -> TurnResult:
        self.task = asyncio.current_task()
        return await turn()

    async def cancel(self) -> bool:
        """On the I/O loop: cancel the turn and wait for it to unwind; True if it ended cancelled."""
        task = self.task
        if task is None:  # not started yet: cancelling the future stops it before it runs
            return self.future is not None and self.future.cancel()
        if task.done():  # it finished (committed) just now: nothing left to cancel
            return task.cancelled()
        task.cancel()
        await asyncio.wait({task})
        return task.cancelled()


def _live_result(session_id: str, rows: list[HistoryRow]) -> TurnResult:
    assistant = [r for r in rows if isinstance(r, BlockAssistantRow)]
    last = assistant[-1] if assistant else None
    tool_calls = sum(len(r.tool_uses) for r in assistant)
    return TurnResult(session_id=session_id, text=last.text if last else "", turns=len(assistant),
                      tool_calls=tool_calls,
                      usage=last.usage or Usage() if last else Usage(),
                      stop_reason=last.stop_reason if last else "end_turn", rows=rows)


class SessionHandle:
    """Thread-safe front of a SessionActor: every call has a deadline."""

    def __init__(self, ref: pykka.ActorRef[Any], *, timeout: float = ASK_TIMEOUT) -> None:
        self.ref = ref
        self.timeout = timeout
        self._proxy = ref.proxy()

    @classmethod
    def start(cls, session: Session, **kwargs: Any) -> SessionHandle:
        return cls(SessionActor.start(session, **kwargs))

    def _ask(self, name: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        return getattr(self._proxy, name)(*args, **kwargs).get(timeout=timeout or self.timeout)

    def run_turn(self, user_input: TurnInput, *, on_event: EventSink = ignore_event,
                 timeout: float = 300.0) -> TurnResult:
        future: concurrent.futures.Future[TurnResult] = self._ask("start_turn", user_input, on_event)
        return future.result(timeout)

    def interrupt_turn(self) -> bool:
        """See :meth:`SessionActor.interrupt_turn`."""
        cancelled: bool = self._ask("interrupt_turn")
        return cancelled

    def history(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        result: list[HistoryRow] = self._ask("history", offset, limit)
        return result

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("live_") or name in ("session_info", "set_instructions", "set_model"):
            return lambda *args, **kwargs: self._ask(name, *args, **kwargs)
        raise AttributeError(name)

    def stop(self, timeout: float = 30.0) -> None:
        if self.ref.is_alive():
            self.ref.stop(timeout=timeout)
