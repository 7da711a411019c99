"""The durable mob record store: one SQLite file (``mobs.db`` beside a realm's ``sessions.db``), WAL mode,
``synchronous=FULL``, one ``BEGIN IMMEDIATE`` transaction per change. Event batches are written with
``synchronous=NORMAL``: in the WAL, so they survive a ``kill -9`` of the process, but not fsynced (an OS crash
may lose the newest events; never the roster, the state or a session's turns).

Schema version 1 (``PRAGMA user_version``); tables ``mobs``, ``mob_members``, ``mob_edges``, ``mob_events``,
``mob_records``. A state root from before mobs were durable has no ``mobs.db``: it is created on first use.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mobkat.errors import CorruptRecordError, MobNotFoundError, StoreError
from mobkat.store.base import closed_error
from mobkat.store.mob_records import (
    MOBS_DB,
    MemberRow,
    MemoryMobRecordStore,
    MobRecord,
    MobRecordStore,
    MobState,
    StoredEvent,
    corrupt,
    decode_model,
    edge,
    mob_exists,
    mob_not_found,
    pack,
    unpack,
    updated,
)
from mobkat.store.sqlite_file import check_sqlite_file, create_atomically, write_transaction

MOB_SCHEMA_VERSION = 1
log = logging.getLogger(__name__)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS mobs (mob_id TEXT PRIMARY KEY, record BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS mob_members (mob_id TEXT NOT NULL, name TEXT NOT NULL, row BLOB NOT NULL,
        PRIMARY KEY (mob_id, name))""",
    """CREATE TABLE IF NOT EXISTS mob_edges (mob_id TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
        PRIMARY KEY (mob_id, a, b))""",
    """CREATE TABLE IF NOT EXISTS mob_events (mob_id TEXT NOT NULL, cursor INTEGER NOT NULL, at REAL NOT NULL,
        type TEXT NOT NULL, fields BLOB NOT NULL, PRIMARY KEY (mob_id, cursor))""",
    """CREATE TABLE IF NOT EXISTS mob_records (mob_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
        seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (mob_id, kind, key))""",
)


class SqliteMobRecordStore:
    """``MobRecordStore`` in one SQLite file; safe across threads."""

    durable = True

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                self._create(busy_timeout_s)
        except OSError as exc:
            raise StoreError(f"cannot create mob store {self.path}: {exc}", details={"path": str(self.path)}) from exc
        self._check_file()
        self._conn = self._open(self.path, busy_timeout_s, create=False)

    # --- files and connections -------------------------------------------------------------------------
    def _create(self, busy_timeout_s: float) -> None:
        """Build the file beside ``path`` and link it into place: ``path`` never exists half-made."""
        create_atomically(self.path, lambda building: self._open(building, busy_timeout_s, create=True).close(),
                          "mob store")

    def _check_file(self) -> None:
        check_sqlite_file(self.path, "mob store", "start without the realm's mobs")

    def _open(self, path: Path, busy_timeout_s: float, *, create: bool) -> sqlite3.Connection:
        uri = f"file:{quote(str(path.absolute()))}?mode={'rwc' if create else 'rw'}"
        with self._sql_errors("open"):
            conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
        try:
            with self._sql_errors("open"):
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
            with self._transaction("open", conn) as cur:
                version = cur.execute("PRAGMA user_version").fetchone()[0]
                if version > MOB_SCHEMA_VERSION:
                    raise StoreError(f"mob store {self.path} has schema version {version}; this mobkat understands "
                                     f"up to {MOB_SCHEMA_VERSION}", details={"path": str(self.path)})
                for statement in _SCHEMA:
                    cur.execute(statement)
                cur.execute(f"PRAGMA user_version = {MOB_SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _sql_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"mob store {self.path}: {operation} failed: {exc}",
                             details={"path": str(self.path), "operation": operation}) from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise closed_error(f"mob store {self.path}")
        return self._conn

    @contextmanager
    def _transaction(self, operation: str, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Cursor]:
        with self._lock, self._sql_errors(operation), write_transaction(conn or self._connection()) as cur:
            yield cur

    def _where(self, table: str, *key: object) -> str:
        return f"{self.path}:{table}[{', '.join(repr(part) for part in key)}]"

    def _record_in(self, cur: sqlite3.Cursor, mob_id: str) -> MobRecord:
        found = cur.execute("SELECT record FROM mobs WHERE mob_id = ?", (mob_id,)).fetchone()
        if found is None:
            raise mob_not_found(mob_id)
        record: MobRecord = decode_model(MobRecord, found[0], mob_id=mob_id, what="mob record",
                                         where=self._where("mobs", mob_id))
        return record

    def _require(self, cur: sqlite3.Cursor, mob_id: str) -> None:
        if cur.execute("SELECT 1 FROM mobs WHERE mob_id = ?", (mob_id,)).fetchone() is None:
            raise mob_not_found(mob_id)

    # --- mobs ------------------------------------------------------------------------------------------
    def create_mob(self, record: MobRecord) -> None:
        with self._transaction("create_mob") as cur:
            try:
                cur.execute("INSERT INTO mobs (mob_id, record) VALUES (?, ?)",
                            (record.mob_id, pack(record.model_dump(mode="json"))))
            except sqlite3.IntegrityError:
                raise mob_exists(record.mob_id) from None

    def get_mob(self, mob_id: str) -> MobRecord | None:
        with self._transaction("get_mob") as cur:
            try:
                return self._record_in(cur, mob_id)
            except MobNotFoundError:
                return None

    def list_mobs(self) -> list[MobRecord]:
        with self._lock, self._sql_errors("list_mobs"):
            found = self._connection().execute("SELECT mob_id, record FROM mobs ORDER BY mob_id").fetchall()
        records = []
        for mob_id, blob in found:
            try:
                records.append(decode_model(MobRecord, blob, mob_id=mob_id, what="mob record",
                                            where=self._where("mobs", mob_id)))
            except CorruptRecordError as exc:
                log.warning("mob store: leaving mob %s out of the list: %s", mob_id, exc.message)
        return records

    def update_mob(self, mob_id: str, *, state: MobState | None = None, epoch: int | None = None,
                   definition: dict[str, Any] | None = None) -> MobRecord:
        with self._transaction("update_mob") as cur:
            record = updated(self._record_in(cur, mob_id), state, epoch, definition)
            cur.execute("UPDATE mobs SET record = ? WHERE mob_id = ?", (pack(record.model_dump(mode="json")), mob_id))
        return record

    def delete_mob(self, mob_id: str) -> None:
        with self._transaction("delete_mob") as cur:
            for table in ("mobs", "mob_members", "mob_edges", "mob_events", "mob_records"):
                cur.execute(f"DELETE FROM {table} WHERE mob_id = ?", (mob_id,))

    # --- roster ----------------------------------------------------------------------------------------
    def put_member(self, mob_id: str, member: MemberRow) -> None:
        with self._transaction("put_member") as cur:
            self._require(cur, mob_id)
            cur.execute("INSERT INTO mob_members (mob_id, name, row) VALUES (?, ?, ?)"
                        " ON CONFLICT (mob_id, name) DO UPDATE SET row = excluded.row",
                        (mob_id, member.name, pack(member.model_dump(mode="json"))))

    def remove_member(self, mob_id: str, name: str) -> None:
        with self._transaction("remove_member") as cur:
            self._require(cur, mob_id)
            cur.execute("DELETE FROM mob_members WHERE mob_id = ? AND name = ?", (mob_id, name))
            cur.execute("DELETE FROM mob_edges WHERE mob_id = ? AND (a = ? OR b = ?)", (mob_id, name, name))

    def clear_roster(self, mob_id: str) -> None:
        with self._transaction("clear_roster") as cur:
            self._require(cur, mob_id)
            cur.execute("DELETE FROM mob_members WHERE mob_id = ?", (mob_id,))
            cur.execute("DELETE FROM mob_edges WHERE mob_id = ?", (mob_id,))

    def members(self, mob_id: str) -> list[MemberRow]:
        with self._transaction("members") as cur:
            self._require(cur, mob_id)
            found = cur.execute("SELECT name, row FROM mob_members WHERE mob_id = ? ORDER BY rowid",
                                (mob_id,)).fetchall()
        return [decode_model(MemberRow, blob, mob_id=mob_id, what=f"roster entry {name!r}",
                             where=self._where("mob_members", mob_id, name)) for name, blob in found]

    def add_edge(self, mob_id: str, a: str, b: str) -> None:
        with self._transaction("add_edge") as cur:
            self._require(cur, mob_id)
            cur.execute("INSERT OR IGNORE INTO mob_edges (mob_id, a, b) VALUES (?, ?, ?)", (mob_id, *edge(a, b)))

    def remove_edge(self, mob_id: str, a: str, b: str) -> None:
        with self._transaction("remove_edge") as cur:
            self._require(cur, mob_id)
            cur.execute("DELETE FROM mob_edges WHERE mob_id = ? AND a = ? AND b = ?", (mob_id, *edge(a, b)))

    def edges(self, mob_id: str) -> list[tuple[str, str]]:
        with self._transaction("edges") as cur:
            self._require(cur, mob_id)
            found = cur.execute("SELECT a, b FROM mob_edges WHERE mob_id = ? ORDER BY a, b", (mob_id,)).fetchall()
        return [(str(a), str(b)) for a, b in found]

    # --- events ----------------------------------------------------------------------------------------
    def append_events(self, mob_id: str, events: Sequence[StoredEvent]) -> None:
        if not events:
            return
        with self._lock, self._sql_errors("append_events"):  # events: WAL without fsync (see the module doc)
            self._connection().execute("PRAGMA synchronous = NORMAL")
            try:
                self._append_events(mob_id, events)
            finally:
                self._connection().execute("PRAGMA synchronous = FULL")

    def _append_events(self, mob_id: str, events: Sequence[StoredEvent]) -> None:
        with self._transaction("append_events") as cur:
            self._require(cur, mob_id)
            cur.executemany("INSERT OR IGNORE INTO mob_events (mob_id, cursor, at, type, fields)"
                            " VALUES (?, ?, ?, ?, ?)",
                            [(mob_id, cursor, at, type_, pack(fields)) for cursor, at, type_, fields in events])

    def events(self, mob_id: str) -> list[StoredEvent]:
        with self._transaction("events") as cur:
            self._require(cur, mob_id)
            found = cur.execute("SELECT cursor, at, type, fields FROM mob_events WHERE mob_id = ? ORDER BY cursor",
                                (mob_id,)).fetchall()
        out: list[StoredEvent] = []
        for cursor, at, type_, blob in found:
            where = self._where("mob_events", mob_id, cursor)
            fields = unpack(blob, mob_id=mob_id, what=f"event {cursor}", where=where)
            if not isinstance(fields, dict):
                raise corrupt(mob_id, f"event {cursor}", where, TypeError("the fields are not a map"))
            out.append((int(cursor), float(at), str(type_), fields))
        return out

    # --- keyed records ---------------------------------------------------------------------------------
    def put_record(self, mob_id: str, kind: str, key: str, data: dict[str, Any]) -> None:
        blob = pack(data)
        with self._transaction("put_record") as cur:
            self._require(cur, mob_id)
            updated_rows = cur.execute("UPDATE mob_records SET data = ? WHERE mob_id = ? AND kind = ? AND key = ?",
                                       (blob, mob_id, kind, key)).rowcount
            if not updated_rows:
                seq = cur.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM mob_records WHERE mob_id = ?",
                                  (mob_id,)).fetchone()[0]
                cur.execute("INSERT INTO mob_records (mob_id, kind, key, seq, data) VALUES (?, ?, ?, ?, ?)",
                            (mob_id, kind, key, seq, blob))

    def _decoded(self, mob_id: str, kind: str, key: str, blob: bytes) -> dict[str, Any]:
        where = self._where("mob_records", mob_id, kind, key)
        data = unpack(blob, mob_id=mob_id, what=f"{kind} record {key!r}", where=where)
        if not isinstance(data, dict):
            raise corrupt(mob_id, f"{kind} record {key!r}", where, TypeError("the record is not a map"))
        return data

    def get_record(self, mob_id: str, kind: str, key: str) -> dict[str, Any] | None:
        with self._transaction("get_record") as cur:
            self._require(cur, mob_id)
            found = cur.execute("SELECT data FROM mob_records WHERE mob_id = ? AND kind = ? AND key = ?",
                                (mob_id, kind, key)).fetchone()
        return None if found is None else self._decoded(mob_id, kind, key, found[0])

    def list_records(self, mob_id: str, kind: str) -> list[dict[str, Any]]:
        with self._transaction("list_records") as cur:
            self._require(cur, mob_id)
            found = cur.execute("SELECT key, data FROM mob_records WHERE mob_id = ? AND kind = ? ORDER BY seq",
                                (mob_id, kind)).fetchall()
        return [self._decoded(mob_id, kind, key, blob) for key, blob in found]

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with self._sql_errors("close"):
                conn.close()


def open_mob_records(root: Path | None) -> MobRecordStore:
    """``<root>/mobs.db``, or a ``MemoryMobRecordStore`` when ``root`` is ``None`` (a memory realm)."""
    return SqliteMobRecordStore(root / MOBS_DB) if root is not None else MemoryMobRecordStore()


__all__ = ["MOB_SCHEMA_VERSION", "SqliteMobRecordStore", "open_mob_records"]
