"""The client end of a JSON-RPC line stream: requests matched to responses by id, notifications routed."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from mobkat.client.errors import ConnectionClosed, MobkatClientError, ProtocolError, error_from_wire

LINE_LIMIT = 64 * 1024 * 1024 + 1024
"""Longest line read from the server (its responses are at most 32 MiB)."""
CONNECTION_FATAL = frozenset({"too_many_connections", "auth_failed", "unauthenticated"})
"""``data.code`` of the id-less error lines a server sends just before it closes the connection."""
NotificationHandler = Callable[[str, dict[str, Any]], None]


class RpcConnection:
    """Sends requests, reads every line the server writes and dispatches it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 on_notification: NotificationHandler, *, name: str = "mobkat-rpc") -> None:
        self._reader = reader
        self._writer = writer
        self._on_notification = on_notification
        self._name = name
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._fault: MobkatClientError | None = None
        self._task = asyncio.create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._fault is not None

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call ``method``; the result, or the typed error the server answered with."""
        if self._fault is not None:
            raise self._fault
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        try:
            self._writer.write(line.encode() + b"\n")
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._pending.pop(request_id, None)
            raise ConnectionClosed("connection_closed", f"{self._name}: cannot send {method}: {exc}") from exc
        return await future

    async def send_line(self, data: bytes) -> None:
        """Write raw bytes (tests use it to send malformed input)."""
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._fail(ConnectionClosed("client_closed", f"{self._name}: the client was closed"))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            self._writer.close()

    async def _read_loop(self) -> None:
        try:
            while line := await self._reader.readline():
                self._dispatch(line)
        except (ConnectionError, OSError, ValueError) as exc:
            self._fail(ConnectionClosed("connection_closed", f"{self._name}: connection lost: {exc}"))
            return
        self._fail(ConnectionClosed("connection_closed", f"{self._name}: the server closed the connection"))

    def _dispatch(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self._fail(ProtocolError("protocol_error", f"{self._name} wrote a line that is not JSON: {line[:200]!r}"))
            return
        if not isinstance(message, dict):
            return
        if "method" in message and "id" not in message:
            params = message.get("params")
            self._on_notification(str(message["method"]), params if isinstance(params, dict) else {})
            return
        request_id = message.get("id")
        if request_id is None and message.get("error") is not None:
            error = error_from_wire(message["error"])
            if error.code in CONNECTION_FATAL:  # the server closes the connection after this line
                self._fail(error)
            return
        future = self._pending.pop(request_id, None) if isinstance(request_id, int) else None
        if future is None or future.done():
            return
        if message.get("error") is not None:
            future.set_exception(error_from_wire(message["error"]))
        else:
            future.set_result(message.get("result"))

    def _fail(self, fault: MobkatClientError) -> None:
        if self._fault is None:
            self._fault = fault
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(fault)
