"""Agent-event subscriptions: ``session/stream_open|close`` and the agent-event form of ``mob/stream_open``.

A stream is a subscription to the services' :class:`~mobkat.session.events.EventHub` (live only, no
replay), pushed to one connection as ``<family>/stream_event`` notifications ``{stream_id, sequence,
[session_id,] event}`` with ``sequence`` 1, 2, ... per stream, and ended by one ``<family>/stream_end``
``{stream_id, [session_id,] ended, outcome}``: ``explicit_close`` (``*/stream_close``), ``remote_end``
(the mob stopped). Shapes: upstream Meerkat's (``docs/rpc.md`` "Streaming").

- ``session/stream_open {session_id}``: the session's events as bare envelopes.
- ``mob/stream_open {mob_id}``: every current member's events as ``AttributedEvent``
  (``{source: {identity, generation}, role, envelope}``); members spawned later are included.
- ``mob/stream_open {mob_id, agent_identity}``: that member's events as bare envelopes (its current
  session, across respawns).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from mobkat.errors import StreamNotFoundError
from mobkat.rpc.registry import Call, MethodRegistry, Notify
from mobkat.rpc.sessions import session_meta
from mobkat.session.events import Subscription
from mobkat.wire.events import (
    AgentRuntimeId,
    AttributedEvent,
    EventEnvelope,
    SessionStreamOpenResult,
    StreamEndNotice,
    StreamOutcome,
)
from mobkat.wire.session import _Params

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost
    from mobkat.rpc.hosted_mob import HostedMob

Family = Literal["session", "mob"]
Project = Callable[[EventEnvelope], dict[str, Any] | None]
"""An envelope as the stream sends it (``None``: not this stream's)."""
REAP_AFTER_S = 60.0


class SessionStreamOpenParams(_Params):
    session_id: str = Field(min_length=1)


class SessionStreamCloseParams(_Params):
    stream_id: str = Field(min_length=1)


class AgentStream:
    """One subscription pushed to one connection; created on the event loop that serves it."""

    def __init__(self, family: Family, notify: Notify, connection_closed: asyncio.Event, *,
                 session_id: str | None = None) -> None:
        self.stream_id = str(uuid.uuid4())
        self.family = family
        self.session_id = session_id
        self._notify = notify
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._sequence = 0
        self._subscription: Subscription | None = None
        self.ended = False
        self._tasks: list[asyncio.Task[None]] = []
        self.on_end: Callable[[], None] | None = None
        """Called once when the stream ends (the table forgets it a minute later)."""
        self.watch(self._end_with(connection_closed))

    def attach(self, subscription: Subscription) -> None:
        self._subscription = subscription

    def watch(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (e.g. "end when the mob stops") until the stream ends."""
        self._tasks.append(asyncio.create_task(work))

    def listener(self, project: Project) -> Callable[[EventEnvelope], None]:
        """A hub listener that sends what ``project`` makes of each envelope (from any thread)."""

        def on_envelope(envelope: EventEnvelope) -> None:
            event = project(envelope)
            if event is None:
                return
            if threading.get_ident() == self._loop_thread:
                self._send(event)
            else:
                with contextlib.suppress(RuntimeError):  # the loop is closing
                    self._loop.call_soon_threadsafe(self._send, event)

        return on_envelope

    def _send(self, event: dict[str, Any]) -> None:
        if self.ended:
            return
        self._sequence += 1
        params: dict[str, Any] = {"stream_id": self.stream_id, "sequence": self._sequence}
        if self.session_id is not None:
            params["session_id"] = self.session_id
        params["event"] = event
        self._notify(f"{self.family}/stream_event", params)

    async def _end_with(self, connection_closed: asyncio.Event) -> None:
        await connection_closed.wait()
        self.end(None)

    def end(self, outcome: StreamOutcome | None) -> bool:
        """Stop the stream and, with an ``outcome``, tell the client; False if it had already ended."""
        if self.ended:
            return False
        self.ended = True
        if self._subscription is not None:
            self._subscription.cancel()
        for task in self._tasks:
            if not task.done() and task is not asyncio.current_task():
                task.cancel()
        if self.on_end is not None:
            self.on_end()
        if outcome is not None:
            end = StreamEndNotice(stream_id=self.stream_id, session_id=self.session_id, outcome=outcome)
            self._notify(f"{self.family}/stream_end", end.model_dump(exclude_none=True))
        return True


class StreamTable:
    """The host's open agent-event streams, by id (ended ones are kept a minute for a late close)."""

    def __init__(self) -> None:
        self._streams: dict[str, AgentStream] = {}

    def add(self, stream: AgentStream) -> AgentStream:
        self._streams[stream.stream_id] = stream
        loop = asyncio.get_running_loop()

        def forget_later() -> None:  # a late */stream_close still answers already_closed meanwhile
            loop.call_later(REAP_AFTER_S, self._streams.pop, stream.stream_id, None)

        stream.on_end = forget_later
        return stream

    def find(self, stream_id: str) -> AgentStream | None:
        return self._streams.get(stream_id)

    def get(self, stream_id: str, family: Family) -> AgentStream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.family != family:
            raise StreamNotFoundError(f"{family} stream not found: {stream_id}", details={"stream_id": stream_id})
        return stream

    def close(self, stream: AgentStream) -> dict[str, Any]:
        """End ``stream`` at the client's request; the ``*/stream_close`` answer."""
        was_open = stream.end("explicit_close")
        return {"stream_id": stream.stream_id, "closed": True, "already_closed": not was_open}


# -- session streams --------------------------------------------------------------------------------
def register(registry: MethodRegistry) -> None:
    family = registry.family("streaming", "Event streaming during agent execution: session/stream_open|close")
    family.add("session/stream_open", SessionStreamOpenParams, session_stream_open)
    family.add("session/stream_close", SessionStreamCloseParams, session_stream_close)


async def session_stream_open(call: Call, params: SessionStreamOpenParams) -> dict[str, Any]:
    """Push ``session/stream_event`` for every later event of the session (its turns, mob turns included)."""
    host = call.host
    await session_meta(call, params.session_id)  # unknown: -32001
    stream = host.streams.add(AgentStream("session", call.notify, call.closed, session_id=params.session_id))
    stream.attach(host.services.events.subscribe(params.session_id, stream.listener(EventEnvelope.to_wire)))
    return SessionStreamOpenResult(stream_id=stream.stream_id, session_id=params.session_id,
                                   opened=True).model_dump()


async def session_stream_close(call: Call, params: SessionStreamCloseParams) -> dict[str, Any]:
    return call.host.streams.close(call.host.streams.get(params.stream_id, "session"))


# -- mob streams ------------------------------------------------------------------------------------
def open_mob_stream(host: ServerHost, hosted: HostedMob, member: str | None, notify: Notify,
                    connection_closed: asyncio.Event) -> AgentStream:
    """The agent-event stream of a mob (``AttributedEvent`` s) or of one member (bare envelopes)."""
    stream = host.streams.add(AgentStream("mob", notify, connection_closed))

    def member_of(session_id: str) -> str | None:
        for name, entry in list(hosted.entries.items()):
            if entry.session_id == session_id:
                return name
        return None

    def project(envelope: EventEnvelope) -> dict[str, Any] | None:
        name = member_of(envelope.source.session_id or "")
        if name is None or (member is not None and name != member):
            return None
        if member is not None:
            return envelope.to_wire()
        attributed = AttributedEvent(
            source=AgentRuntimeId(identity=name, generation=max(0, hosted.generations.get(name, 0))),
            role=hosted.roles.get(name, ""), envelope=envelope.model_copy(update={"mob_id": hosted.id}))
        return attributed.to_wire()

    def wants(session_id: str) -> bool:
        return member_of(session_id) is not None

    stream.attach(host.services.events.subscribe(wants, stream.listener(project)))
    stream.watch(_end_when_mob_stops(hosted, stream))
    return stream


async def _end_when_mob_stops(hosted: HostedMob, stream: AgentStream) -> None:
    """When the mob stops (or is destroyed, or its event log ends) the stream ends with ``remote_end``."""
    with contextlib.suppress(Exception):
        async for event in hosted.mob.aevents(hosted.mob.events_log.latest):
            if event.type in ("mob_stopped", "mob_destroyed"):
                break
    stream.end("remote_end")
