"""The embedded default store: one SQLite file in WAL mode, one transaction per committed turn.

Rows and session metadata are msgpack blobs of their wire dicts. ``synchronous=FULL`` makes a
returned ``commit_turn`` durable; a turn killed before its ``COMMIT`` leaves no trace.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from mobkat.errors import CorruptRecordError, StoreError
from mobkat.history import HistoryRow, utc_now
from mobkat.store.base import (
    CommittedTurn,
    SessionMeta,
    check_page,
    check_turn_input,
    closed_error,
    decode_meta,
    decode_row,
    duplicate,
    encode_meta,
    encode_row,
    fresh_meta,
    merge_meta,
    not_found,
    reused_turn_id,
    turn_digest,
)
from mobkat.store.sqlite_file import check_sqlite_file, create_atomically

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

BeforeCommitHook = Callable[[str, int], None]


class SqliteSessionStore:
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
        self._before_commit = _before_commit
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

    def __enter__(self) -> SqliteSessionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
        with self._lock, self._sql_errors(operation):
            conn = conn or self._connection()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    @contextmanager
    def _reading(self, operation: str) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._sql_errors(operation):
            yield self._connection().cursor()

    def _meta_in(self, cur: sqlite3.Cursor, session_id: str) -> tuple[SessionMeta, int]:
        """The stored metadata and message count of a session, or ``SessionNotFoundError``."""
        found = cur.execute("SELECT meta, message_count FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if found is None:
            raise not_found(session_id)
        return self._meta_of(session_id, found[0]), int(found[1])

    def _write_meta(self, cur: sqlite3.Cursor, meta: SessionMeta, message_count: int) -> None:
        cur.execute(
            "UPDATE sessions SET archived = ?, turn_count = ?, message_count = ?, meta = ? WHERE id = ?",
            (int(meta.archived), meta.turn_count, message_count, encode_meta(meta), meta.session_id),
        )

    # --- sessions ---------------------------------------------------------------------------

    def create_session(self, meta: SessionMeta) -> None:
        """Add a new session; an existing ``session_id`` raises ``StoreError``."""
        meta = fresh_meta(meta)
        with self._transaction("create_session") as cur:
            try:
                cur.execute(
                    "INSERT INTO sessions (id, created_at, archived, turn_count, message_count, meta)"
                    " VALUES (?, ?, ?, 0, 0, ?)",
                    (meta.session_id, meta.created_at, int(meta.archived), encode_meta(meta)),
                )
            except sqlite3.IntegrityError:
                raise duplicate(meta.session_id) from None

    def get_session(self, session_id: str) -> SessionMeta | None:
        """The session's metadata, or ``None`` if there is no such session."""
        with self._reading("get_session") as cur:
            found = cur.execute("SELECT meta FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if found is None:
            return None
        return self._meta_of(session_id, found[0])

    def update_session(self, meta: SessionMeta) -> None:
        """Replace the caller-owned fields of a session's metadata."""
        with self._transaction("update_session") as cur:
            stored, message_count = self._meta_in(cur, meta.session_id)
            self._write_meta(cur, merge_meta(stored, meta, turn_count=stored.turn_count), message_count)

    def list_sessions(self, *, include_archived: bool = False) -> list[SessionMeta]:
        """All sessions ordered by ``created_at``, then ``session_id``."""
        where = "" if include_archived else " WHERE archived = 0"
        with self._reading("list_sessions") as cur:
            found = cur.execute(f"SELECT id, meta FROM sessions{where} ORDER BY created_at, id").fetchall()
        metas = []
        for session_id, blob in found:
            try:
                metas.append(self._meta_of(session_id, blob))
            except CorruptRecordError as exc:  # that session only: the others are listed
                log.warning("session store: leaving session %s out of the list: %s", session_id, exc.message)
        return metas

    def _meta_of(self, session_id: str, blob: bytes) -> SessionMeta:
        return decode_meta(blob, session_id=session_id, where=f"{self.path}:sessions[{session_id!r}]")

    def archive_session(self, session_id: str) -> None:
        """Mark a session archived (idempotent)."""
        with self._transaction("archive_session") as cur:
            stored, message_count = self._meta_in(cur, session_id)
            if not stored.archived:
                archived = stored.model_copy(update={"archived": True, "updated_at": utc_now()})
                self._write_meta(cur, archived, message_count)

    # --- history ----------------------------------------------------------------------------

    def commit_turn(
        self,
        session_id: str,
        rows: Sequence[HistoryRow],
        *,
        meta: SessionMeta | None = None,
        turn_id: str | None = None,
    ) -> CommittedTurn:
        """Append all rows of one turn in one transaction (idempotent per ``turn_id``)."""
        check_turn_input(session_id, rows, meta, turn_id)
        encoded = [encode_row(row) for row in rows]
        digest = turn_digest(encoded)
        with self._transaction("commit_turn") as cur:
            stored, first_seq = self._meta_in(cur, session_id)
            if turn_id is not None:
                earlier = self._earlier_turn(cur, session_id, turn_id, digest)
                if earlier is not None:
                    return earlier
            turn_index = stored.turn_count
            cur.executemany(
                "INSERT INTO messages (session_id, seq, turn_index, row) VALUES (?, ?, ?, ?)",
                [(session_id, first_seq + i, turn_index, blob) for i, blob in enumerate(encoded)],
            )
            cur.execute(
                "INSERT INTO turns (session_id, turn_index, turn_id, first_seq, row_count, digest,"
                " committed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, turn_index, turn_id, first_seq, len(encoded), digest, utc_now()),
            )
            message_count = first_seq + len(encoded)
            self._write_meta(cur, merge_meta(stored, meta, turn_count=turn_index + 1), message_count)
            if self._before_commit is not None:
                self._before_commit(session_id, turn_index)
        return CommittedTurn(session_id=session_id, turn_index=turn_index, message_count=message_count)

    def _earlier_turn(
        self, cur: sqlite3.Cursor, session_id: str, turn_id: str, digest: bytes
    ) -> CommittedTurn | None:
        found = cur.execute(
            "SELECT turn_index, first_seq, row_count, digest FROM turns WHERE session_id = ? AND turn_id = ?",
            (session_id, turn_id),
        ).fetchone()
        if found is None:
            return None
        turn_index, first_seq, row_count, first_digest = found
        if bytes(first_digest) != digest:
            raise reused_turn_id(session_id, turn_id)
        return CommittedTurn(
            session_id=session_id, turn_index=turn_index, message_count=first_seq + row_count
        )

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed rows in order, from ``offset``, at most ``limit`` of them."""
        check_page(offset, limit)
        with self._reading("history") as cur:
            # seq runs 0, 1, 2, ... per session: a range on the primary key costs O(limit), where OFFSET would
            # step over every skipped row.
            found = cur.execute(
                "SELECT seq, row FROM messages WHERE session_id = ? AND seq >= ? ORDER BY seq LIMIT ?",
                (session_id, offset, -1 if limit is None else limit),
            ).fetchall()
            # Sessions are never deleted, so an existence check after the read is race-free.
            if not found and not cur.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone():
                raise not_found(session_id)
        return [decode_row(blob, session_id=session_id, index=seq, where=f"{self.path}:messages[{session_id!r}, {seq}]")
                for seq, blob in found]

    def message_count(self, session_id: str) -> int:
        """Number of committed rows in the session's history."""
        with self._reading("message_count") as cur:
            found = cur.execute("SELECT message_count FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if found is None:
            raise not_found(session_id)
        return int(found[0])

    def close(self) -> None:
        """Close the connection (SQLite checkpoints the WAL); later calls raise ``StoreError``."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                raise StoreError(f"session store {self.path}: close failed: {exc}") from exc

