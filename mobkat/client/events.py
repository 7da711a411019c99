"""Notifications: ``session/event`` routed per session to async iterators (the payloads of their envelopes),
``mob/stream_*`` and ``session/stream_*`` per stream."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from mobkat.wire.events import EventEnvelope, SessionEvent, StreamEventNotice

MAX_BUFFERED_SESSIONS = 64
MAX_BUFFERED_EVENTS = 1000


class SessionEvents:
    """Async iterator over one session's turn events; ends when the client closes (or on :meth:`aclose`).

    It sees events from the moment it was created, plus the buffered events of a session nobody
    listened to yet (so the first turn of ``create_session`` can be replayed).
    """

    def __init__(self, router: EventRouter, session_id: str) -> None:
        self.session_id = session_id
        self._router = router
        self._queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue()
        for event in router.take_buffered(session_id):
            self._queue.put_nowait(event)
        router.subscribe(self)

    def put(self, event: SessionEvent | None) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> SessionEvents:
        return self

    async def __anext__(self) -> SessionEvent:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def until(self, event_type: str, timeout: float = 30.0) -> list[SessionEvent]:
        """Collect events up to and including the first of ``event_type`` (e.g. ``run_completed``)."""
        seen: list[SessionEvent] = []
        async with asyncio.timeout(timeout):
            async for event in self:
                seen.append(event)
                if event.type == event_type:
                    return seen
        return seen

    async def aclose(self) -> None:
        self._router.unsubscribe(self)
        self.put(None)

    async def __aenter__(self) -> SessionEvents:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


StreamItem = dict[str, Any] | None
"""A ``mob/stream_event``'s params, or ``None`` for the stream's end."""


class EnvelopeStream:
    """A ``session/stream_open`` subscription: the session's later events as :class:`EventEnvelope` s.

    Iterate it (``async for envelope in stream``); it ends at :meth:`aclose` (``session/stream_close``)."""

    def __init__(self, close: Callable[[str], Awaitable[Any]], stream_id: str,
                 queue: asyncio.Queue[StreamItem]) -> None:
        self.stream_id = stream_id
        self._close = close
        self._queue = queue
        self._ended = False

    def __aiter__(self) -> EnvelopeStream:
        return self

    async def __anext__(self) -> EventEnvelope:
        item = None if self._ended else await self._queue.get()
        if item is None:
            self._ended = True
            raise StopAsyncIteration
        return EventEnvelope.model_validate(StreamEventNotice.model_validate(item).event)

    async def until(self, event_type: str, timeout: float = 30.0) -> list[EventEnvelope]:
        """Collect envelopes up to and including the first whose payload is ``event_type``."""
        seen: list[EventEnvelope] = []
        async with asyncio.timeout(timeout):
            async for envelope in self:
                seen.append(envelope)
                if envelope.payload.type == event_type:
                    break
        return seen

    async def aclose(self) -> None:
        """Close the subscription on the server (idempotent)."""
        if not self._ended:
            self._ended = True
            await self._close(self.stream_id)

    async def __aenter__(self) -> EnvelopeStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class EventRouter:
    """Routes notifications to subscribers; keeps a bounded buffer for sessions and streams without one."""

    def __init__(self) -> None:
        self._subscribers: dict[str, list[SessionEvents]] = {}
        self._buffered: OrderedDict[str, deque[SessionEvent]] = OrderedDict()
        self._streams: dict[str, asyncio.Queue[StreamItem]] = {}
        self._stream_buffers: OrderedDict[str, deque[StreamItem]] = OrderedDict()

    def open_stream(self, stream_id: str) -> asyncio.Queue[StreamItem]:
        """The queue of a ``mob/stream_open`` stream (notifications that came before the answer included)."""
        queue: asyncio.Queue[StreamItem] = asyncio.Queue()
        for item in self._stream_buffers.pop(stream_id, []):
            queue.put_nowait(item)
        self._streams[stream_id] = queue
        return queue

    def close_stream(self, stream_id: str) -> None:
        queue = self._streams.pop(stream_id, None)
        if queue is not None:
            queue.put_nowait(None)

    def _route_stream(self, method: str, params: dict[str, Any]) -> None:
        stream_id = params.get("stream_id")
        if not isinstance(stream_id, str):
            return
        item: StreamItem = params if method.endswith("/stream_event") else None
        queue = self._streams.get(stream_id)
        if queue is not None:
            queue.put_nowait(item)
            if item is None:
                del self._streams[stream_id]
            return
        buffer = self._stream_buffers.setdefault(stream_id, deque(maxlen=MAX_BUFFERED_EVENTS))
        buffer.append(item)
        while len(self._stream_buffers) > MAX_BUFFERED_SESSIONS:
            self._stream_buffers.popitem(last=False)

    def subscribe(self, subscriber: SessionEvents) -> None:
        self._subscribers.setdefault(subscriber.session_id, []).append(subscriber)

    def unsubscribe(self, subscriber: SessionEvents) -> None:
        subscribers = self._subscribers.get(subscriber.session_id, [])
        if subscriber in subscribers:
            subscribers.remove(subscriber)

    def take_buffered(self, session_id: str) -> list[SessionEvent]:
        return list(self._buffered.pop(session_id, []))

    def route(self, method: str, params: dict[str, Any]) -> None:
        if method in ("mob/stream_event", "mob/stream_end", "session/stream_event", "session/stream_end"):
            self._route_stream(method, params)
            return
        if method != "session/event":
            return
        session_id = params.get("session_id")
        try:
            event = EventEnvelope.model_validate(params.get("event")).payload  # upstream's envelope
        except ValidationError:
            return
        if not isinstance(session_id, str):
            return
        subscribers = self._subscribers.get(session_id)
        if subscribers:
            for subscriber in subscribers:
                subscriber.put(event)
            return
        buffer = self._buffered.setdefault(session_id, deque(maxlen=MAX_BUFFERED_EVENTS))
        buffer.append(event)
        self._buffered.move_to_end(session_id)
        while len(self._buffered) > MAX_BUFFERED_SESSIONS:
            self._buffered.popitem(last=False)

    def close(self) -> None:
        for subscribers in self._subscribers.values():
            for subscriber in subscribers:
                subscriber.put(None)
        self._subscribers.clear()
        for queue in self._streams.values():
            queue.put_nowait(None)
        self._streams.clear()
