"""Serving JSON-RPC connections: one JSON object per line, requests dispatched concurrently.

A connection reads lines (at most 64 MiB each; longer ones are answered with an error and
skipped without being buffered), runs every request as its own task (a slow turn never blocks
``live/status``) and writes each response or notification as one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import threading
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mobkat.errors import INVALID_PARAMS
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

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
MAX_PENDING_NOTIFICATION_BYTES = 8 * 1024 * 1024
DRAIN_GRACE_S = 30.0  # after the peer closes its side, in-flight requests get this long to finish
WRITE_GRACE_S = 2.0
WriteLine = Callable[[bytes], Awaitable[None]]


class Connection:
    """One JSON-RPC peer."""

    def __init__(self, host: ServerHost, reader: asyncio.StreamReader, write: WriteLine, name: str,
                 *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.host = host
        self.name = name
        self._reader = reader
        self._write = write
        self._max_line = max_line_bytes
        self._out: asyncio.Queue[tuple[bytes, bool] | None] = asyncio.Queue()
        self._pending_notification_bytes = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    async def serve(self) -> None:
        """Serve until the peer closes its side (or the task is cancelled)."""
        writer = asyncio.create_task(self._write_loop())
        framer = LineFramer(self._max_line)
        try:
            while data := await self._read():
                for line in framer.feed(data):
                    self._take_line(line)
            for line in framer.finish():
                self._take_line(line)
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=DRAIN_GRACE_S)
        finally:
            self.closed.set()
            for task in list(self._tasks):
                task.cancel()
            self._out.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(writer, timeout=WRITE_GRACE_S)

    async def _read(self) -> bytes:
        try:
            return await self._reader.read(READ_CHUNK)
        except (ConnectionError, OSError) as exc:  # a reset is the peer going away
            log.info("%s: connection lost: %s", self.name, exc)
            return b""

    # -- output ------------------------------------------------------------------------------------
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
        self._out.put_nowait((line, False))

    async def _write_loop(self) -> None:
        while (item := await self._out.get()) is not None:
            line, is_notification = item
            if is_notification:
                self._pending_notification_bytes -= len(line)
            try:
                await self._write(line)
            except (ConnectionError, OSError) as exc:
                log.info("%s: peer went away: %s", self.name, exc)
                return

    # -- input -------------------------------------------------------------------------------------
    def _take_line(self, line: bytes | OversizedLine) -> None:
        if isinstance(line, OversizedLine):
            self._respond(None, error=invalid_request(
                f"request line of {line.size} bytes exceeds the {self._max_line} byte limit and was skipped",
                size=line.size, limit=self._max_line))
            return
        if not line.strip():
            return
        try:
            raw = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            self._respond(None, error=parse_error(f"{exc}; send one JSON object per line"))
            return
        if not isinstance(raw, dict):
            self._respond(None, error=invalid_request("a request must be one JSON object (batches are not supported)"))
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
        spec = self.host.registry.get(request.method)
        if spec is None:
            self._respond(request.id, error=method_not_found(request.method, self.host.method_hint(request.method)))
            return
        task = asyncio.create_task(self._run(spec, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, spec: MethodSpec, request: RpcRequest) -> None:
        try:
            params = spec.params.model_validate(request.params or {})
        except ValidationError as exc:
            self._respond(request.id, error=invalid_params(spec.name, exc))
            return
        call = Call(host=self.host, method=spec.name, notify=self.notify, closed=self.closed)
        try:
            result = await spec.handler(call, params)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._respond(request.id, error=error_from_exception(exc, method=spec.name, style=spec.errors))
            return
        self._respond(request.id, result)


# -- transports ------------------------------------------------------------------------------------
def _pollable(fd: int) -> bool:
    """Pipes and sockets can be watched by the event loop; files, ttys and /dev/null cannot (reliably)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def serve_stdio(host: ServerHost, in_fd: int, out_fd: int) -> None:
    """Serve one connection on a pair of file descriptors until the input side closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_CHUNK * 2)
    if _pollable(in_fd):
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", 0))
    else:  # a file, a terminal, /dev/null: a daemon thread reads it (a blocked read never holds up exit)
        threading.Thread(target=_feed_from_fd, args=(loop, reader, in_fd), name="mobkat-rpc-stdin",
                         daemon=True).start()
    write = await _line_writer(out_fd)
    await Connection(host, reader, write, "stdio").serve()


def _feed_from_fd(loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader, fd: int) -> None:
    try:
        while data := os.read(fd, READ_CHUNK):
            loop.call_soon_threadsafe(reader.feed_data, data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(RuntimeError):  # the loop may be gone at exit
            loop.call_soon_threadsafe(reader.feed_eof)


async def _line_writer(fd: int) -> WriteLine:
    loop = asyncio.get_running_loop()
    stream = os.fdopen(fd, "wb", 0)
    if not _pollable(fd):  # a file or terminal: plain blocking writes, off the loop
        async def write_blocking(line: bytes) -> None:
            await asyncio.to_thread(stream.write, line)

        return write_blocking
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stream)
    writer = asyncio.StreamWriter(transport, protocol, None, loop)

    async def write(line: bytes) -> None:
        writer.write(line)
        await writer.drain()

    return write


async def start_tcp(host: ServerHost, address: tuple[str, int]) -> asyncio.Server:
    """Listen for JSON-RPC connections on TCP; every connection is served like stdio."""
    counter = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal counter
        counter += 1
        peer = writer.get_extra_info("peername")

        async def write(line: bytes) -> None:
            writer.write(line)
            await writer.drain()

        try:
            await Connection(host, reader, write, f"tcp#{counter} {peer}").serve()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    return await asyncio.start_server(on_connect, address[0], address[1], limit=READ_CHUNK * 2)
