"""The shared store: sessions in a PostgreSQL database, one transaction per committed turn.

Every process that points at the same database and schema sees the same sessions, so a session
can be picked up on another host (issue #16). Rows and metadata are the same msgpack blobs as in
the SQLite store, with the same turn digest and ``turn_id`` idempotency. A commit locks its
session's row (``SELECT ... FOR UPDATE``), so concurrent commits to one session, from any number of
threads or hosts, queue up and each turn stays whole. Needs the ``postgres`` extra (psycopg 3).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mobkat.errors import CorruptRecordError, InvalidInputError, StoreError
from mobkat.history import HistoryRow, utc_now
from mobkat.store.base import (
    CommittedTurn,
    SessionMeta,
    check_page,
    check_turn_input,
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
from mobkat.store.postgres_pool import ConnectionPool

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1  # kept in the table ``<schema>.schema_version``
DEFAULT_SCHEMA = "mobkat"
TABLES = frozenset({"sessions", "messages", "turns", "schema_version"})
SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
NEEDS_EXTRA = "the PostgreSQL session store needs psycopg 3: pip install 'mobkat[postgres]'"
log = logging.getLogger(__name__)

BeforeCommitHook = Callable[[str, int], None]

# ``{s}`` is the quoted schema. Text keys sort bytewise (COLLATE "C"), exactly as in SQLite.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS {s}.sessions (
        id TEXT COLLATE "C" PRIMARY KEY,
        created_at TEXT COLLATE "C" NOT NULL,
        archived BOOLEAN NOT NULL,
        turn_count INTEGER NOT NULL,
        message_count INTEGER NOT NULL,
        meta BYTEA NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.messages (
        session_id TEXT COLLATE "C" NOT NULL,
        seq INTEGER NOT NULL,
        turn_index INTEGER NOT NULL,
        row BYTEA NOT NULL,
        PRIMARY KEY (session_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS {s}.turns (
        session_id TEXT COLLATE "C" NOT NULL,
        turn_index INTEGER NOT NULL,
        turn_id TEXT,
        first_seq INTEGER NOT NULL,
        row_count INTEGER NOT NULL,
        digest BYTEA NOT NULL,
        committed_at TEXT NOT NULL,
        PRIMARY KEY (session_id, turn_index)
    )""",
    "CREATE UNIQUE INDEX IF NOT EXISTS turns_by_id ON {s}.turns (session_id, turn_id) WHERE turn_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS sessions_by_created ON {s}.sessions (created_at, id)",
    "CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER NOT NULL)",
)


def realm_schema(realm_id: str) -> str:
    """The schema that keeps one realm's sessions: ``mobkat_<realm_id>``, shortened with a hash past 63 bytes."""
    name = f"mobkat_{realm_id}"
    if len(name) <= 63:
        return name
    return f"{name[:46]}_{hashlib.sha256(realm_id.encode()).hexdigest()[:16]}"


def describe_dsn(dsn: str) -> str:
    """``postgresql://user@host:port/dbname`` of a connection string, never its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError; its text names the bad part, not the password
        raise InvalidInputError(f"the PostgreSQL connection string is not valid: {str(exc).splitlines()[0]}",
                                details={"problem": "dsn"}) from None
    user = params.get("user")
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"postgresql://{f'{user}@' if user else ''}{host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


class PostgresSessionStore:
    """``SessionStore`` in a PostgreSQL schema; safe across threads, processes and hosts sharing the database.

    ``dsn`` is a libpq connection string or URI (``postgresql://user@host/db``); ``schema`` holds the tables
    (made, with a schema version, on first use). At most ``max_connections`` connections are open at once;
    a call that finds them all busy waits up to ``pool_wait_s``. ``_before_commit`` is a TEST-ONLY hook, as
    in ``SqliteSessionStore``: called inside a turn's transaction after its rows are written.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        max_connections: int = 4,
        connect_timeout_s: float = 10.0,
        pool_wait_s: float = 30.0,
        _before_commit: BeforeCommitHook | None = None,
    ) -> None:
        try:
            import psycopg  # noqa: F401  (only to fail early, and clearly, without the extra)
        except ImportError:
            raise StoreError(NEEDS_EXTRA, details={"problem": "missing_extra"}) from None
        if not SCHEMA_NAME.fullmatch(schema):
            raise InvalidInputError(
                f"PostgreSQL schema name {schema!r} is not valid: use 1-63 letters, digits, '_', '.' or '-', "
                "starting with a letter or '_'", details={"schema": schema})
        if max_connections < 1:
            raise InvalidInputError(f"max_connections must be >= 1, got {max_connections}")
        self.location = describe_dsn(dsn)
        self.schema = schema
        self._dsn = dsn
        self._s = f'"{schema}"'
        self._connect_timeout = max(2, round(connect_timeout_s))
        self._before_commit = _before_commit
        self._what = f"session store {self.location} (schema {schema})"
        self._pool = ConnectionPool(self._connect, size=max_connections, wait_s=pool_wait_s, what=self._what)
        try:
            self._set_up()
        except BaseException:
            self._pool.close()
            raise

    def __enter__(self) -> PostgresSessionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- connections and transactions ----------------------------------------------------------

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        try:
            return psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {self._what}: {str(exc).strip()}",
                             details={"location": self.location, "operation": "connect"}) from exc

    @contextmanager
    def _sql_errors(self, operation: str) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"{self._what}: {operation} failed: {str(exc).strip()}",
                             details={"location": self.location, "operation": operation}) from exc

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """One transaction on a pooled connection: committed on success, rolled back otherwise."""
        with (self._sql_errors(operation), self._pool.connection() as conn, conn.transaction(),
              conn.cursor() as cur):
            yield cur

    @contextmanager
    def _reading(self, operation: str) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """A cursor in autocommit mode: each statement reads one consistent snapshot."""
        with self._sql_errors(operation), self._pool.connection() as conn, conn.cursor() as cur:
            yield cur

    def _set_up(self) -> None:
        """Make the schema and tables if missing (one process at a time), and check the schema version."""
        s = self._s
        with self._transaction("open") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"mobkat store {self.schema}",))
            if cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)).fetchone() is None:
                cur.execute(f"CREATE SCHEMA {s}")
            tables = {row[0] for row in cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                                    (self.schema,))}
            version = 0
            if "schema_version" in tables:
                found = cur.execute(f"SELECT max(version) FROM {s}.schema_version").fetchone()
                version = int(found[0]) if found is not None and found[0] is not None else 0
            elif tables:
                raise StoreError(
                    f"{self._what} holds tables that are not mobkat's ({len(tables - TABLES)} of them, and no "
                    "schema_version); it is not used. Pick another schema", details={"problem": "foreign"})
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self._what} has schema version {version}; this mobkat understands up to "
                                 f"{SCHEMA_VERSION}", details={"problem": "schema_version", "version": version})
            for statement in _SCHEMA:
                cur.execute(statement.format(s=s))
            if version != SCHEMA_VERSION:
                cur.execute(f"DELETE FROM {s}.schema_version")
                cur.execute(f"INSERT INTO {s}.schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))

    def _meta_in(self, cur: psycopg.Cursor[tuple[Any, ...]], session_id: str) -> tuple[SessionMeta, int]:
        """The metadata and message count of a session, its row locked until the transaction ends."""
        found = cur.execute(f"SELECT meta, message_count FROM {self._s}.sessions WHERE id = %s FOR UPDATE",
                            (session_id,)).fetchone()
        if found is None:
            raise not_found(session_id)
        return self._meta_of(session_id, found[0]), int(found[1])

    def _write_meta(self, cur: psycopg.Cursor[tuple[Any, ...]], meta: SessionMeta, message_count: int) -> None:
        cur.execute(
            f"UPDATE {self._s}.sessions SET archived = %s, turn_count = %s, message_count = %s, meta = %s"
            " WHERE id = %s",
            (meta.archived, meta.turn_count, message_count, encode_meta(meta), meta.session_id),
        )

    def _meta_of(self, session_id: str, blob: bytes) -> SessionMeta:
        return decode_meta(bytes(blob), session_id=session_id,
                           where=f"{self.location} {self.schema}.sessions[{session_id!r}]")

    # --- sessions ---------------------------------------------------------------------------

    def create_session(self, meta: SessionMeta) -> None:
        """Add a new session; an existing ``session_id`` raises ``StoreError``."""
        meta = fresh_meta(meta)
        with self._transaction("create_session") as cur:
            cur.execute(
                f"INSERT INTO {self._s}.sessions (id, created_at, archived, turn_count, message_count, meta)"
                " VALUES (%s, %s, %s, 0, 0, %s) ON CONFLICT (id) DO NOTHING",
                (meta.session_id, meta.created_at, meta.archived, encode_meta(meta)),
            )
            if cur.rowcount != 1:
                raise duplicate(meta.session_id)

    def get_session(self, session_id: str) -> SessionMeta | None:
        """The session's metadata, or ``None`` if there is no such session."""
        with self._reading("get_session") as cur:
            found = cur.execute(f"SELECT meta FROM {self._s}.sessions WHERE id = %s", (session_id,)).fetchone()
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
        where = "" if include_archived else " WHERE NOT archived"
        with self._reading("list_sessions") as cur:
            found = cur.execute(f"SELECT id, meta FROM {self._s}.sessions{where} ORDER BY created_at, id").fetchall()
        metas = []
        for session_id, blob in found:
            try:
                metas.append(self._meta_of(session_id, blob))
            except CorruptRecordError as exc:  # that session only: the others are listed
                log.warning("session store: leaving session %s out of the list: %s", session_id, exc.message)
        return metas

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
        s = self._s
        with self._transaction("commit_turn") as cur:
            stored, first_seq = self._meta_in(cur, session_id)  # locks the session: commits to it queue here
            if turn_id is not None:
                earlier = self._earlier_turn(cur, session_id, turn_id, digest)
                if earlier is not None:
                    return earlier
            turn_index = stored.turn_count
            cur.executemany(
                f"INSERT INTO {s}.messages (session_id, seq, turn_index, row) VALUES (%s, %s, %s, %s)",
                [(session_id, first_seq + i, turn_index, blob) for i, blob in enumerate(encoded)],
            )
            cur.execute(
                f"INSERT INTO {s}.turns (session_id, turn_index, turn_id, first_seq, row_count, digest,"
                " committed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (session_id, turn_index, turn_id, first_seq, len(encoded), digest, utc_now()),
            )
            message_count = first_seq + len(encoded)
            self._write_meta(cur, merge_meta(stored, meta, turn_count=turn_index + 1), message_count)
            if self._before_commit is not None:
                self._before_commit(session_id, turn_index)
        return CommittedTurn(session_id=session_id, turn_index=turn_index, message_count=message_count)

    def _earlier_turn(
        self, cur: psycopg.Cursor[tuple[Any, ...]], session_id: str, turn_id: str, digest: bytes
    ) -> CommittedTurn | None:
        found = cur.execute(
            f"SELECT turn_index, first_seq, row_count, digest FROM {self._s}.turns"
            " WHERE session_id = %s AND turn_id = %s",
            (session_id, turn_id),
        ).fetchone()
        if found is None:
            return None
        turn_index, first_seq, row_count, first_digest = found
        if bytes(first_digest) != digest:
            raise reused_turn_id(session_id, turn_id)
        return CommittedTurn(session_id=session_id, turn_index=turn_index, message_count=first_seq + row_count)

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed rows in order, from ``offset``, at most ``limit`` of them."""
        check_page(offset, limit)
        with self._reading("history") as cur:
            # seq runs 0, 1, 2, ... per session: a range on the primary key (LIMIT NULL is no limit).
            found = cur.execute(
                f"SELECT seq, row FROM {self._s}.messages WHERE session_id = %s AND seq >= %s ORDER BY seq LIMIT %s",
                (session_id, offset, limit),
            ).fetchall()
            # Sessions are never deleted, so an existence check after the read is race-free.
            if not found and not cur.execute(f"SELECT 1 FROM {self._s}.sessions WHERE id = %s",
                                             (session_id,)).fetchone():
                raise not_found(session_id)
        return [decode_row(bytes(blob), session_id=session_id, index=seq,
                           where=f"{self.location} {self.schema}.messages[{session_id!r}, {seq}]")
                for seq, blob in found]

    def message_count(self, session_id: str) -> int:
        """Number of committed rows in the session's history."""
        with self._reading("message_count") as cur:
            found = cur.execute(f"SELECT message_count FROM {self._s}.sessions WHERE id = %s",
                                (session_id,)).fetchone()
        if found is None:
            raise not_found(session_id)
        return int(found[0])

    def close(self) -> None:
        """Close the connections; later calls raise ``StoreError``. Closing twice is harmless."""
        self._pool.close()
