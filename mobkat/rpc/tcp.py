"""``mobkat rpc --tcp``: JSON-RPC connections on TCP, each served like stdio, at most ``max_connections`` at once.

A connection beyond the cap gets one JSON-RPC error line (-32041 ``too_many_connections``) and is
closed. :meth:`TcpListener.close` stops listening and ends every connection within a few seconds
(requests in flight are cancelled; a peer that does not read is cut off).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from mobkat.errors import TOO_MANY_CONNECTIONS
from mobkat.rpc.protocol import RpcError, encode_line
from mobkat.rpc.server import READ_CHUNK, WRITE_GRACE_S, Connection, ConnectionLimits

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

log = logging.getLogger(__name__)

CLOSE_GRACE_S = 3.0
"""How long :meth:`TcpListener.close` waits for connections to end before cutting them."""


def too_many_connections(limit: int) -> RpcError:
    return RpcError(TOO_MANY_CONNECTIONS, f"too many connections: this server serves at most {limit} at once "
                    "(--max-connections); try again later", kind="too_many_connections", details={"limit": limit})


class TcpListener:
    """The TCP side of the JSON-RPC server."""

    def __init__(self, host: ServerHost, *, max_connections: int, auth_token: str | None = None,
                 limits: ConnectionLimits | None = None) -> None:
        self.host = host
        self.max_connections = max_connections
        self.auth_token = auth_token
        self.limits = limits or ConnectionLimits()
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], tuple[Connection, asyncio.StreamWriter]] = {}
        self._counter = 0
        self._closing = False

    async def start(self, address: tuple[str, int]) -> TcpListener:
        # the reader stops taking bytes from the socket past 2 * limit buffered: TCP flow control does the rest
        self._server = await asyncio.start_server(self._on_connect, address[0], address[1], limit=READ_CHUNK)
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when started with port 0)."""
        if self._server is None:
            raise RuntimeError("the TCP listener is not started")
        sockname = next(iter(self._server.sockets)).getsockname()
        return str(sockname[0]), int(sockname[1])

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Stop listening, end every connection, and wait (at most ``grace_s``, then cut) until they are gone."""
        self._closing = True
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for connection, _writer in list(self._connections.values()):
            connection.stop()
        handlers = list(self._connections)
        if handlers:
            _done, stuck = await asyncio.wait(handlers, timeout=grace_s)
            for task in stuck:
                self._connections[task][1].transport.abort()
                task.cancel()
            if stuck:
                await asyncio.wait(stuck, timeout=1.0)

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._counter += 1
        name = f"tcp#{self._counter} {writer.get_extra_info('peername')}"
        if self._server is None or len(self._connections) >= self.max_connections:
            await self._refuse(writer, name)
            return
        task = asyncio.current_task()
        assert task is not None

        async def write(line: bytes) -> None:
            writer.write(line)
            await writer.drain()

        def read() -> Awaitable[bytes]:
            return reader.read(READ_CHUNK)

        connection = Connection(self.host, read, write, name, limits=self.limits, auth_token=self.auth_token)
        self._connections[task] = (connection, writer)
        try:
            await connection.serve()
        except asyncio.CancelledError:
            pass  # cut off by close(): this task is ours and ends here, quietly
        finally:
            del self._connections[task]
            if self._closing:
                writer.transport.abort()  # shutting down: a peer that does not read is not waited for
            else:
                await _close_writer(writer)

    async def _refuse(self, writer: asyncio.StreamWriter, name: str) -> None:
        log.warning("%s refused: %d connections are open (--max-connections)", name, len(self._connections))
        error = too_many_connections(self.max_connections).to_object().model_dump(exclude_none=True)
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            writer.write(encode_line({"jsonrpc": "2.0", "id": None, "error": error}))
            await asyncio.wait_for(writer.drain(), WRITE_GRACE_S)
        await _close_writer(writer)


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), WRITE_GRACE_S)
    writer.transport.abort()  # whatever the peer did not read is dropped: the connection is over
