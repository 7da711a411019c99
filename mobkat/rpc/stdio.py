"""The stdio transport of the JSON-RPC server: one connection on a pair of file descriptors (``mobkat rpc``
without ``--tcp``). Pipes and sockets are watched by the event loop; files, terminals and ``/dev/null`` are
read by a daemon thread and written off the loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from mobkat.rpc.server import READ_CHUNK, Connection, ConnectionLimits, ReadChunk, WriteLine

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

log = logging.getLogger(__name__)


def _pollable(fd: int) -> bool:
    """Pipes and sockets can be watched by the event loop; files, ttys and /dev/null cannot (reliably)."""
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def serve_stdio(host: ServerHost, in_fd: int, out_fd: int, *, limits: ConnectionLimits | None = None) -> None:
    """Serve one connection on a pair of file descriptors until the input side closes (no auth token)."""
    loop = asyncio.get_running_loop()
    read: ReadChunk
    if _pollable(in_fd):
        reader = asyncio.StreamReader(limit=READ_CHUNK)  # reading the pipe pauses past 2 * limit buffered
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(in_fd, "rb", 0))

        def read() -> Awaitable[bytes]:
            return reader.read(READ_CHUNK)
    else:  # a file, a terminal, /dev/null: a daemon thread reads it (a blocked read never holds up exit)
        feed = _ThreadFeed(loop)
        threading.Thread(target=feed.pump, args=(in_fd,), name="mobkat-rpc-stdin", daemon=True).start()
        read = feed.read
    write = await _line_writer(out_fd)
    await Connection(host, read, write, "stdio", limits=limits).serve()


class _ThreadFeed:
    """Chunks read by a thread, handed to the loop; the thread waits while two chunks are unread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._slots = threading.Semaphore(2)
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()

    def pump(self, fd: int) -> None:
        try:
            while data := os.read(fd, READ_CHUNK):
                self._slots.acquire()
                self._loop.call_soon_threadsafe(self._chunks.put_nowait, data)
        except (OSError, RuntimeError) as exc:  # RuntimeError: the loop is gone (exiting)
            log.debug("stdin reader ends: %s", exc)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._chunks.put_nowait, b"")

    async def read(self) -> bytes:
        data = await self._chunks.get()
        self._slots.release()
        return data


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

