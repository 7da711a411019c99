"""``GET /sessions/{session_id}/events``: a session's agent events as Server-Sent Events (upstream's shape).

The first event is ``session_loaded`` ``{session_id, message_count}``; then one event per agent event,
named by its payload ``type``, whose data is the full ``EventEnvelope``. Live only (no replay): the route
runs the server's own ``session/stream_open`` handler and forwards what it pushes. A comment line every
``KEEPALIVE_S`` keeps proxies from closing an idle stream and notices a client that went away; the
subscription ends with the HTTP response. At most ``MAX_PENDING`` events wait for a slow client; past
that the stream ends with ``stream_end`` ``{"outcome": "terminal_error", "error": {"code":
"stream_queue_overflow"}}``.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mobkat.errors import InvalidInputError
from mobkat.rpc.registry import Call

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

EVENTS_PATH = "/sessions/{session_id}/events"
KEEPALIVE_S = 15.0
MAX_PENDING = 1024
_OVERFLOW: tuple[str, dict[str, Any]] = ("overflow", {})
_STOP: tuple[str, dict[str, Any]] = ("stop", {})
Pending = asyncio.Queue[tuple[str, dict[str, Any]]]


class OpenStreams:
    """The event streams a listener has open, so that stopping it ends them at once."""

    def __init__(self) -> None:
        self._queues: set[Pending] = set()

    def add(self, queue: Pending) -> None:
        self._queues.add(queue)

    def discard(self, queue: Pending) -> None:
        self._queues.discard(queue)

    def stop_all(self) -> None:
        for queue in self._queues:
            queue.put_nowait(_STOP)


def sse(event: str, data: Any) -> bytes:
    """One SSE frame (``data`` is one line of compact JSON)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def open_events(host: ServerHost, request: web.Request, streams: OpenStreams) -> web.StreamResponse:
    """Subscribe, then stream until the client leaves, the stream ends, or the server stops."""
    session_id = request.match_info["session_id"]
    spec = host.registry.get("session/stream_open")
    if spec is None:
        raise InvalidInputError(f"GET {EVENTS_PATH} needs RPC method session/stream_open, which this server does "
                                "not serve", details={"method": "session/stream_open"})
    pending: Pending = asyncio.Queue()  # bounded by notify (the stop sentinel always fits)

    def notify(method: str, params: dict[str, Any]) -> None:
        if pending.qsize() >= MAX_PENDING:
            if pending.qsize() == MAX_PENDING:
                pending.put_nowait(_OVERFLOW)
            return
        pending.put_nowait((method, params))

    call = Call(host=host, method="session/stream_open", notify=notify)
    try:
        await spec.handler(call, spec.params.model_validate({"session_id": session_id}))  # unknown: 404
        count = await asyncio.to_thread(host.store.message_count, session_id)
    except BaseException:
        call.closed.set()
        raise
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    streams.add(pending)
    try:
        await response.prepare(request)
        await response.write(sse("session_loaded", {"session_id": session_id, "message_count": count}))
        while True:
            try:
                method, params = await asyncio.wait_for(pending.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")  # fails once the client has gone
                continue
            if (method, params) == _STOP:  # the server is stopping
                break
            if (method, params) == _OVERFLOW:
                await response.write(sse("stream_end", {"session_id": session_id, "ended": True,
                                                        "outcome": "terminal_error",
                                                        "error": {"code": "stream_queue_overflow",
                                                                  "message": f"more than {MAX_PENDING} events "
                                                                             "waited for this client"}}))
                break
            if method.endswith("/stream_end"):
                await response.write(sse("stream_end", params))
                break
            envelope = params["event"]
            await response.write(sse(str(envelope["payload"]["type"]), envelope))
    except (ConnectionResetError, ConnectionError):
        pass  # the client went away: the subscription ends below
    finally:
        streams.discard(pending)
        call.closed.set()  # ends the subscription (as a closed JSON-RPC connection does)
    return response
