"""The shared store: sessions in a PostgreSQL database, one transaction per committed turn.

Every process that points at the same database and schema sees the same sessions, so a session
can be picked up on another host (issue #16). Rows and metadata are the same msgpack blobs as in
the SQLite store, with the same turn digest and ``turn_id`` idempotency. A commit locks its
session's row (``SELECT ... FOR UPDATE``), so concurrent commits to one session, from any number of
threads or hosts, queue up and each turn stays whole. Needs the ``postgres`` extra (psycopg 3).
The store algorithm is ``SqlSessionStore``'s; this module sets up the schema and runs its transactions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mobkat.errors import InvalidInputError, StoreError
from mobkat.store.postgres_pool import ConnectionPool
from mobkat.store.sql_session_store import BeforeCommitHook as BeforeCommitHook  # re-exported
from mobkat.store.sql_session_store import SqlDialect, SqlSessionStore

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1  # kept in the table ``<schema>.schema_version``
DEFAULT_SCHEMA = "mobkat"
TABLES = frozenset({"sessions", "messages", "turns", "schema_version"})
SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
NEEDS_EXTRA = "the PostgreSQL session store needs psycopg 3: pip install 'mobkat[postgres]'"
log = logging.getLogger(__name__)

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


class PostgresSessionStore(SqlSessionStore):
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
        super().__init__(SqlDialect(tables=f"{self._s}.", param="%s", lock=" FOR UPDATE", no_limit=None,
                                    location=f"{self.location} {schema}.", log=log), _before_commit)
        self._what = f"session store {self.location} (schema {schema})"
        self._pool = ConnectionPool(self._connect, size=max_connections, wait_s=pool_wait_s, what=self._what)
        try:
            self._set_up()
        except BaseException:
            self._pool.close()
            raise

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

    def close(self) -> None:
        """Close the connections; later calls raise ``StoreError``. Closing twice is harmless."""
        self._pool.close()
