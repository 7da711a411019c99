"""The embedded default store: one SQLite file in WAL mode, one transaction per committed turn.

Rows and session metadata are msgpack blobs of their wire dicts. ``synchronous=FULL`` makes a
returned ``commit_turn`` durable; a turn killed before its ``COMMIT`` leaves no trace. The store
algorithm is ``SqlSessionStore``'s; this module opens the file and runs its transactions.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from mobkat.errors import StoreError
from mobkat.store.base import closed_error
from mobkat.store.sql_session_store import BeforeCommitHook as BeforeCommitHook  # re-exported
from mobkat.store.sql_session_store import SqlDialect, SqlSessionStore
from mobkat.store.sqlite_file import check_sqlite_file, create_atomically, write_transaction

SCHEMA_VERSION = 1  # kept in ``PRAGMA user_version``
TABLES = frozenset({"sessions", "messages", "turns"})
log = logging.getLogger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        archived INTEGER NOT NULL,
        turn_count INTEGER NOT NULL,
        message_count INTEGER NOT NULL,
        meta BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        turn_index INTEGER NOT NULL,
        row BLOB NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS turns (
        session_id TEXT NOT NULL,
        turn_index INTEGER NOT NULL,
        turn_id TEXT,
        first_seq INTEGER NOT NULL,
        row_count INTEGER NOT NULL,
        digest BLOB NOT NULL,
        committed_at TEXT NOT NULL,
        PRIMARY KEY (session_id, turn_index)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS turns_by_id ON turns (session_id, turn_id) WHERE turn_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS sessions_by_created ON sessions (created_at, id)",
)


class SqliteSessionStore(SqlSessionStore):
    """``SessionStore`` in one SQLite file; safe across threads and across processes sharing the file.

    ``_before_commit`` is a TEST-ONLY hook called as ``hook(session_id, turn_index)`` inside the
    turn's transaction, after its rows are written and before ``COMMIT`` (the durability test uses
    it to kill the process mid-turn). Production code must not pass it.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = 10.0,
        _before_commit: BeforeCommitHook | None = None,
    ) -> None:
        self.path = Path(path)
        super().__init__(SqlDialect(tables="", param="?", lock="", no_limit=-1, location=f"{self.path}:", log=log),
                         _before_commit)  # BEGIN IMMEDIATE locks the whole file: no FOR UPDATE
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of session store {self.path}: {exc}") from exc
        self._conn: sqlite3.Connection | None = None
        if not self.path.exists():
            self._create(busy_timeout_s)
        self._check_file()
        self._conn = self._open(self.path, busy_timeout_s, create=False)

    def _open(self, path: Path, busy_timeout_s: float, *, create: bool) -> sqlite3.Connection:
        """A configured connection; ``create=False`` never creates the file (SQLite's ``mode=rw``)."""
        uri = f"file:{quote(str(path.absolute()))}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open session store {self.path}: {exc}",
                             details={"path": str(self.path)}) from exc
        try:
            self._configure(conn, busy_timeout_s)
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self, busy_timeout_s: float) -> None:
        """Make a new store atomically (closing the built connection checkpoints the WAL into the file)."""
        create_atomically(self.path, lambda building: self._open(building, busy_timeout_s, create=True).close(),
                          "session store")

    def _check_file(self) -> None:
        check_sqlite_file(self.path, "session store", "start a new store")

    # --- connection and transactions ----------------------------------------------------------

    def _configure(self, conn: sqlite3.Connection, busy_timeout_s: float) -> None:
        with self._sql_errors("open"):
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"session store {self.path}: cannot enable WAL (journal_mode is {mode})")
            conn.execute("PRAGMA synchronous = FULL")
        with self._transaction("open", conn) as cur:
            version = cur.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                tables = {row[0] for row in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables - TABLES:
                    raise StoreError(
                        f"session store {self.path} is a SQLite database of something else ({len(tables - TABLES)} "
                        "tables that are not mobkat's); it is not opened. Point mobkat at another state root",
                        details={"path": str(self.path), "problem": "foreign"})
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"session store {self.path} has schema version {version}; "
                    f"this mobkat understands up to {SCHEMA_VERSION}"
                )
            for statement in _SCHEMA:
                cur.execute(statement)
            cur.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _sql_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(
                f"session store {self.path}: {operation} failed: {exc}",
                details={"path": str(self.path), "operation": operation},
            ) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise closed_error(f"session store {self.path}")
        return self._conn

    @contextmanager
    def _transaction(self, operation: str, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Cursor]:
        """One ``BEGIN IMMEDIATE`` write transaction (on the store's connection unless ``conn``), committed on
        success, rolled back otherwise."""
        with self._lock, self._sql_errors(operation), write_transaction(conn or self._connection()) as cur:
            yield cur

    @contextmanager
    def _reading(self, operation: str) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._sql_errors(operation):
            yield self._connection().cursor()

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL); later calls raise ``StoreError``."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                raise StoreError(f"session store {self.path}: close failed: {exc}") from exc

