"""Serving JSON-RPC connections: one JSON object per line, requests dispatched concurrently.

A connection reads lines (at most ``max_line_bytes`` each, 8 MiB by default; longer ones are answered
with an error and skipped without being buffered), bounds each line's JSON before parsing it
(:mod:`mobkat.rpc.wire_guard`: depth, member count, strict UTF-8, lone surrogates), runs every
request as its own task (a slow turn never blocks ``live/status``) and writes each response or
notification as one line.

Back-pressure: at most ``max_in_flight`` requests run per connection and at most
``max_queued_bytes`` of responses wait for the peer to read them. Past either bound the connection
stops reading (the pipe or TCP window then holds the peer back) until replies drain; a reply is never
dropped. With an auth token (TCP only), nothing runs before ``initialize`` presents it (:mod:`mobkat.rpc.auth`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mobkat.errors import INVALID_PARAMS
from mobkat.rpc.auth import AUTH_TIMEOUT_S, ConnectionAuth, auth_timed_out
from mobkat.rpc.protocol import (
    MAX_LINE_BYTES,
    MAX_RESPONSE_BYTES,
    LineFramer,
    OversizedLine,
    RpcError,
    RpcRequest,
    encode_line,
    error_from_exception,
    internal_error,
    invalid_params,
    invalid_request,
    method_not_found,
    parse_error,
)
from mobkat.rpc.registry import Call, MethodSpec
from mobkat.rpc.server_requests import ServerRequests
from mobkat.rpc.upstream_methods import unsupported_error
from mobkat.rpc.wire_guard import JsonTextError, load_bounded, lone_surrogate_path, may_hold_surrogates

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
MAX_IN_FLIGHT = 128
"""Requests of one connection running at once; the connection is not read while this many run."""
MAX_QUEUED_RESPONSE_BYTES = 8 * 1024 * 1024
"""Response bytes of one connection waiting for its peer to read them; the connection is not read past it."""
MAX_PENDING_NOTIFICATION_BYTES = 8 * 1024 * 1024
DRAIN_GRACE_S = 30.0  # after the peer closes its side, in-flight requests get this long to finish
WRITE_GRACE_S = 2.0  # a closing connection's writer gets this long to flush
SHUTDOWN_WRITE_GRACE_S = 0.5  # ... when the server is shutting down
CANCEL_GRACE_S = 1.0  # cancelled requests get this long to unwind
FAIR_SHARE_LINES = 64  # lines taken from one read before other connections get a turn
ReadChunk = Callable[[], Awaitable[bytes]]
WriteLine = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class ConnectionLimits:
    """Per-connection bounds (see docs/security.md, "The wire")."""

    max_line_bytes: int = MAX_LINE_BYTES
    max_in_flight: int = MAX_IN_FLIGHT
    max_queued_bytes: int = MAX_QUEUED_RESPONSE_BYTES
    auth_timeout_s: float = AUTH_TIMEOUT_S
    """With an auth token: how long a connection may take to present it."""


class Connection:
    """One JSON-RPC peer: ``read`` returns the next bytes (``b""`` at end of stream), ``write`` sends a line."""

    def __init__(self, host: ServerHost, read: ReadChunk, write: WriteLine, name: str, *,
                 limits: ConnectionLimits | None = None, auth_token: str | None = None) -> None:
        self.host = host
        self.name = name
        self._read_chunk = read
        self._write = write
        self.limits = limits or ConnectionLimits()
        self._out: asyncio.Queue[tuple[bytes, bool] | None] = asyncio.Queue()
        self._queued_response_bytes = 0
        self._pending_notification_bytes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()
        self._auth = ConnectionAuth(auth_token)
        self._reading: asyncio.Task[None] | None = None
        self._ending: str | None = None
        self._stopped = asyncio.Event()
        self.closed = asyncio.Event()
        self._asks = ServerRequests(self.name)

    async def serve(self) -> None:
        """Serve until the peer closes its side, :meth:`stop` is called, or the task is cancelled."""
        writer = asyncio.create_task(self._write_loop())
        timer = None
        if not self._auth.authenticated:
            timer = asyncio.get_running_loop().call_later(self.limits.auth_timeout_s, self._auth_expired)
        self._reading = asyncio.create_task(self._read_loop())
        try:
            try:
                await self._reading
            except asyncio.CancelledError:
                if self._ending is None:  # this task itself was cancelled
                    raise
            if self._ending in (None, "peer_gone"):  # the peer left: running requests may finish
                self._asks.fail_all()  # ... but nobody is left to answer a callback tool
                await self._drain_requests()
        finally:
            if timer is not None:
                timer.cancel()
            self.closed.set()
            self._asks.fail_all()
            await self._cancel_requests()
            self._out.put_nowait(None)
            task = asyncio.current_task()
            shutting_down = self._ending == "server_shutdown" or (task is not None and task.cancelling() > 0)
            grace = SHUTDOWN_WRITE_GRACE_S if shutting_down else WRITE_GRACE_S
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(writer, timeout=grace)

    def stop(self, why: str = "server_shutdown") -> None:
        """End the connection now: stop reading and cancel its requests (queued replies still get a moment)."""
        if self._ending is None:
            self._ending = why
        self._stopped.set()
        reading = self._reading
        if reading is not None and not reading.done() and reading is not asyncio.current_task():
            reading.cancel()

    async def _drain_requests(self) -> None:
        """Wait (at most ``DRAIN_GRACE_S``) for running requests to finish, unless :meth:`stop` is called."""
        deadline = asyncio.get_running_loop().time() + DRAIN_GRACE_S
        stopped = asyncio.create_task(self._stopped.wait())
        try:
            while self._tasks and not self._stopped.is_set():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return
                await asyncio.wait([*self._tasks, stopped], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()

    async def _cancel_requests(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)

    def _auth_expired(self) -> None:
        if not self._auth.authenticated and self._ending is None:
            self._respond(None, error=auth_timed_out(self.limits.auth_timeout_s))
            self.stop("auth_timeout")

    # -- input -------------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        framer = LineFramer(self.limits.max_line_bytes)
        while self._ending is None and (data := await self._read()):
            for count, line in enumerate(framer.feed(data), 1):
                await self._wait_for_room()
                self._take_line_safely(line)
                if self._ending is not None:
                    return
                if count % FAIR_SHARE_LINES == 0:
                    await asyncio.sleep(0)
        if self._ending is None:
            for line in framer.finish():
                self._take_line_safely(line)

    async def _read(self) -> bytes:
        try:
            return await self._read_chunk()
        except (ConnectionError, OSError) as exc:  # a reset is the peer going away
            log.info("%s: connection lost: %s", self.name, exc)
            return b""

    def _has_room(self) -> bool:
        return (len(self._tasks) < self.limits.max_in_flight
                and self._queued_response_bytes < self.limits.max_queued_bytes)

    async def _wait_for_room(self) -> None:
        """Back-pressure: hold the next line while too many requests run or too many replies are unread."""
        while not self._has_room():
            self._room.clear()
            await self._room.wait()

    def _made_room(self, _task: object = None) -> None:
        if self._has_room():
            self._room.set()

    def _take_line_safely(self, line: bytes | OversizedLine) -> None:
        try:
            self._take_line(line)
        except Exception as exc:  # a bug must cost one answer, not the connection (or, on stdio, the process)
            log.error("%s: a request line could not be handled", self.name, exc_info=exc)
            self._respond(None, error=internal_error(f"the request could not be handled: {type(exc).__name__}"))

    def _take_line(self, line: bytes | OversizedLine) -> None:
        if isinstance(line, OversizedLine):
            self._respond(None, error=invalid_request(
                f"request line of {line.size} bytes exceeds the {self.limits.max_line_bytes} byte limit and was "
                "skipped", size=line.size, limit=self.limits.max_line_bytes))
            return
        if not line.strip():
            return
        try:
            raw = load_bounded(line)
        except JsonTextError as exc:
            if exc.shape is None:
                self._respond(None, error=parse_error(f"{exc.message}; send one JSON object per line"))
            else:
                self._respond(None, error=invalid_request(f"{exc.message}; the line was skipped",
                                                          kind=exc.shape.kind, limit=exc.shape.limit))
            return
        if not isinstance(raw, dict):
            self._respond(None, error=invalid_request("a request must be one JSON object (batches are not supported)"))
            return
        if "method" not in raw and ("result" in raw or "error" in raw):  # the client answers a request of ours
            self._asks.answer(raw)
            return
        surrogates = may_hold_surrogates(line)
        if surrogates and (where := lone_surrogate_path({k: v for k, v in raw.items() if k != "params"}, "request")):
            self._respond(None, error=invalid_request(f"{where} holds a lone UTF-16 surrogate (not valid Unicode)",
                                                      field=where))
            return
        raw_id = raw.get("id")
        request_id = raw_id if isinstance(raw_id, int | str) and not isinstance(raw_id, bool) else None
        if "params" in raw and raw["params"] is not None and not isinstance(raw["params"], dict):
            problem = f"params of {raw.get('method')} must be a JSON object of named params"
            self._respond(request_id, error=RpcError(INVALID_PARAMS, problem, kind="invalid_params",
                                                     details={"method": raw.get("method")}))
            return
        try:
            request = RpcRequest.model_validate(raw)
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in exc.errors())
            self._respond(request_id, error=invalid_request(problem))
            return
        if request.is_notification:
            log.debug("%s: client notification %s ignored", self.name, request.method)
            return
        refusal = self._auth.admit(request.method, request.params)
        if refusal is not None:
            self._respond(request.id, error=refusal)
            if self._auth.failed:
                self.stop("auth_failed")
            return
        spec = self.host.registry.get(request.method)
        if spec is None:
            declined = unsupported_error(request.method)  # upstream methods mobkat declines: a typed -32020
            self._respond(request.id, error=error_from_exception(declined, method=request.method) if declined
                          else method_not_found(request.method, self.host.method_hint(request.method)))
            return
        if surrogates and (where := lone_surrogate_path(request.params, "params")):
            problem = "holds a lone UTF-16 surrogate (not valid Unicode); nothing was done"
            self._respond(request.id, error=RpcError(
                INVALID_PARAMS, f"invalid params for {spec.name}: {where}: {problem}", kind="invalid_params",
                details={"method": spec.name, "errors": [{"field": where, "problem": problem}]}))
            return
        task = asyncio.create_task(self._run(spec, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(self._made_room)

    async def _run(self, spec: MethodSpec, request: RpcRequest) -> None:
        try:
            params = spec.params.model_validate(request.params or {})
        except ValidationError as exc:
            self._respond(request.id, error=invalid_params(spec.name, exc))
            return
        call = Call(host=self.host, method=spec.name, notify=self.notify, closed=self.closed, ask=self.ask)
        try:
            result = await spec.handler(call, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._respond(request.id, error=error_from_exception(exc, method=spec.name, style=spec.errors))
            return
        self._respond(request.id, result)

    # -- output ------------------------------------------------------------------------------------
    async def ask(self, method: str, params: dict[str, Any]) -> Any:
        """Send a request to the client (ids ``srv-0``, ``srv-1``, ...) and await its result. The client's
        error reply raises :class:`~mobkat.errors.CallbackToolError`; a disconnect, ``ClientGoneError``."""
        request_id, answer = self._asks.open(closed=self.closed.is_set())
        try:
            self._send_line(encode_line({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
            return await answer
        finally:
            self._asks.forget(request_id)

    def _send_line(self, line: bytes) -> None:
        self._pending_notification_bytes += len(line)
        self._out.put_nowait((line, True))

    def notify(self, method: str, params: dict[str, Any]) -> None:
        """Queue a notification (dropped, with a log line, if the peer stops reading)."""
        line = encode_line({"jsonrpc": "2.0", "method": method, "params": params})
        if self._pending_notification_bytes + len(line) > MAX_PENDING_NOTIFICATION_BYTES:
            log.warning("%s: peer is not reading; dropped a %s notification", self.name, method)
            return
        self._pending_notification_bytes += len(line)
        self._out.put_nowait((line, True))

    def _respond(self, request_id: Any, result: Any = None, error: RpcError | None = None) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if error is not None:
            body["error"] = error.to_object().model_dump(exclude_none=True)
        else:
            body["result"] = result
        try:
            line = encode_line(body)
        except (TypeError, ValueError) as exc:
            log.error("%s: result of request %r is not JSON: %s", self.name, request_id, exc)
            line = encode_line({"jsonrpc": "2.0", "id": request_id,
                                "error": internal_error(f"result is not JSON: {exc}").to_object().model_dump()})
        if len(line) > MAX_RESPONSE_BYTES:
            err = internal_error(f"response of {len(line)} bytes exceeds the {MAX_RESPONSE_BYTES} byte limit; "
                                 "ask for less (e.g. a smaller history page)")
            line = encode_line({"jsonrpc": "2.0", "id": request_id, "error": err.to_object().model_dump()})
        self._queued_response_bytes += len(line)
        self._out.put_nowait((line, False))

    async def _write_loop(self) -> None:
        while (item := await self._out.get()) is not None:
            line, is_notification = item
            try:
                await self._write(line)
            except (ConnectionError, OSError) as exc:
                log.info("%s: peer went away: %s", self.name, exc)
                self.stop("peer_gone")
                return
            finally:
                if is_notification:
                    self._pending_notification_bytes -= len(line)
                else:
                    self._queued_response_bytes -= len(line)
                    self._made_room()
