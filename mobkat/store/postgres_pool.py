"""A small bounded pool of psycopg connections, shared by the threads of one PostgreSQL store.

At most ``size`` connections exist at once; a thread that finds them all busy waits up to
``wait_s`` for one. Connections are opened on demand, reused while healthy, and dropped when
broken (a restarted server, a cut network): the next call opens a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mobkat.errors import StoreError
from mobkat.store.base import closed_error

if TYPE_CHECKING:
    import psycopg


class ConnectionPool:
    """Up to ``size`` connections made by ``connect``; ``what`` names the store in errors."""

    def __init__(self, connect: Callable[[], psycopg.Connection[tuple[Any, ...]]], *, size: int,
                 wait_s: float, what: str) -> None:
        if size < 1:
            raise ValueError(f"a connection pool needs at least one connection, got size={size}")
        self._connect = connect
        self._what = what
        self._wait_s = wait_s
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[tuple[Any, ...]]] = []
        self._closed = False
        self.size = size

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A connection for this thread alone until the block ends (then back to the pool)."""
        if self._closed:
            raise closed_error(self._what)
        if not self._slots.acquire(timeout=self._wait_s):
            raise StoreError(f"{self._what}: all {self.size} connections stayed busy for {self._wait_s:g}s",
                             details={"pool_size": self.size})
        try:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)
        finally:
            self._slots.release()

    def _take(self) -> psycopg.Connection[tuple[Any, ...]]:
        with self._lock:
            if self._closed:
                raise closed_error(self._what)
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
        return self._connect()

    def _give_back(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        from psycopg import pq

        idle = not conn.closed and conn.info.transaction_status == pq.TransactionStatus.IDLE
        with self._lock:
            keep = idle and not self._closed and not conn.broken
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()

    def close(self) -> None:
        """Close the idle connections now; busy ones close when their block ends. Later use is refused."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
