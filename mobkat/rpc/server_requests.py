"""Requests the server sends to its client on the same connection (``tool/execute``), and their answers."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from mobkat.errors import CallbackToolError, ClientGoneError

log = logging.getLogger(__name__)


class ServerRequests:
    """The pending server→client requests of one connection, by id (``srv-0``, ``srv-1``, ...)."""

    def __init__(self, connection: str) -> None:
        self._connection = connection
        self._ids = itertools.count()
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._gone = False

    def open(self, *, closed: bool) -> tuple[str, asyncio.Future[Any]]:
        """A new id and the future its answer resolves; ``ClientGoneError`` if the connection is closed."""
        if closed or self._gone:
            raise ClientGoneError(f"the client ({self._connection}) has disconnected, so it cannot be asked",
                                  details={"connection": self._connection})
        request_id = f"srv-{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return request_id, future

    def forget(self, request_id: str) -> None:
        self._pending.pop(request_id, None)

    def answer(self, raw: dict[str, Any]) -> None:
        """Resolve the request a client reply (``{"id", "result"|"error"}``) answers; others are logged."""
        request_id = raw.get("id")
        future = self._pending.pop(request_id, None) if isinstance(request_id, str) else None
        if future is None or future.done():
            log.info("%s: a reply to no pending server request (id %r) was ignored", self._connection, request_id)
            return
        error = raw.get("error")
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            future.set_exception(CallbackToolError(f"the client answered with an error: {message or error!r}",
                                                   details={"code": code, "message": message}))
        else:
            future.set_result(raw.get("result"))

    def fail_all(self) -> None:
        """The client is gone: every pending (and later) request fails with ``ClientGoneError``."""
        self._gone = True
        pending, self._pending = self._pending, {}
        for request_id, future in pending.items():
            if not future.done():
                future.set_exception(ClientGoneError(
                    f"the client ({self._connection}) disconnected before answering request {request_id}",
                    details={"connection": self._connection, "request_id": request_id}))
