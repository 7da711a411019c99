"""The session store algorithm shared by the SQL backends (SQLite and PostgreSQL).

``SqlSessionStore`` holds every ``SessionStore`` method over a DB-API cursor; a backend supplies its
``SqlDialect`` (table names, placeholder, row lock, "no limit" value, record location) and its
connection handling (``_transaction``, ``_reading``, ``close``). Both backends keep the same tables:
``sessions`` (one msgpack metadata blob per session), ``messages`` (one msgpack blob per history row,
``seq`` 0, 1, 2, ... per session) and ``turns`` (one per committed turn, with its digest and ``turn_id``).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from mobkat.errors import CorruptRecordError
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

BeforeCommitHook = Callable[[str, int], None]


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses (``sqlite3.Cursor``, ``psycopg.Cursor``)."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any], /) -> Cursor: ...

    def executemany(self, sql: str, params: Iterable[Sequence[Any]], /) -> object: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class SqlDialect:
    """What differs between the SQL backends: how statements are spelled and how records are named."""

    tables: str
    """Written before each table name: ``""`` or a quoted schema and a dot."""
    param: str
    """The parameter placeholder: ``?`` or ``%s``."""
    lock: str
    """Appended to the ``SELECT`` of a session read for update: `` FOR UPDATE``, or ``""`` where the write
    transaction already holds the whole database."""
    no_limit: int | None
    """The ``LIMIT`` parameter that means no limit (``-1`` in SQLite, ``NULL`` in PostgreSQL)."""
    location: str
    """Written before ``table[key]`` to name a stored record in errors: ``/path/to.db:`` or ``<dsn> <schema>.``."""
    log: logging.Logger
    """Where a session left out of ``list_sessions`` is logged."""
    _rendered: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)

    def sql(self, template: str) -> str:
        """``template`` in this dialect: ``{sessions}``, ``{messages}``, ``{turns}``, ``{lock}`` and ``?`` filled in."""
        rendered = self._rendered.get(template)
        if rendered is None:
            rendered = template.replace("?", self.param).format(
                sessions=f"{self.tables}sessions", messages=f"{self.tables}messages", turns=f"{self.tables}turns",
                lock=self.lock,
            )
            self._rendered[template] = rendered
        return rendered

    def where(self, table: str, key: str) -> str:
        """Names a stored record, e.g. ``store.db:messages['s1', 3]``."""
        return f"{self.location}{table}[{key}]"


class SqlSessionStore(ABC):
    """``SessionStore`` over SQL tables: all of the algorithm, none of the connection handling.

    A backend calls ``__init__`` with its dialect and implements ``_transaction`` (one write transaction,
    committed on success and rolled back otherwise), ``_reading`` (a cursor whose statements each read a
    consistent snapshot) and ``close``. Both yield a cursor and turn driver errors into ``StoreError``.
    """

    def __init__(self, dialect: SqlDialect, before_commit: BeforeCommitHook | None) -> None:
        self._dialect = dialect
        self._before_commit = before_commit

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @abstractmethod
    def _transaction(self, operation: str) -> AbstractContextManager[Cursor]:
        """One write transaction named ``operation`` in errors: committed on success, rolled back otherwise."""

    @abstractmethod
    def _reading(self, operation: str) -> AbstractContextManager[Cursor]:
        """A cursor for reads named ``operation`` in errors."""

    @abstractmethod
    def close(self) -> None:
        """Release the connections; later calls raise ``StoreError``. Closing twice is harmless."""

    def _run(self, cur: Cursor, template: str, *params: Any) -> Cursor:
        return cur.execute(self._dialect.sql(template), params)

    def _meta_in(self, cur: Cursor, session_id: str) -> tuple[SessionMeta, int]:
        """The metadata and message count of a session, locked until the transaction ends."""
        found = self._run(cur, "SELECT meta, message_count FROM {sessions} WHERE id = ?{lock}", session_id).fetchone()
        if found is None:
            raise not_found(session_id)
        return self._meta_of(session_id, found[0]), int(found[1])

    def _write_meta(self, cur: Cursor, meta: SessionMeta, message_count: int) -> None:
        self._run(cur, "UPDATE {sessions} SET archived = ?, turn_count = ?, message_count = ?, meta = ? WHERE id = ?",
                  meta.archived, meta.turn_count, message_count, encode_meta(meta), meta.session_id)

    def _meta_of(self, session_id: str, blob: bytes) -> SessionMeta:
        return decode_meta(bytes(blob), session_id=session_id, where=self._dialect.where("sessions", repr(session_id)))

    # --- sessions ---------------------------------------------------------------------------

    def create_session(self, meta: SessionMeta) -> None:
        """Add a new session; an existing ``session_id`` raises ``StoreError``."""
        meta = fresh_meta(meta)
        with self._transaction("create_session") as cur:
            inserted = self._run(
                cur, "INSERT INTO {sessions} (id, created_at, archived, turn_count, message_count, meta)"
                " VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (id) DO NOTHING",
                meta.session_id, meta.created_at, meta.archived, encode_meta(meta))
            if inserted.rowcount != 1:
                raise duplicate(meta.session_id)

    def get_session(self, session_id: str) -> SessionMeta | None:
        """The session's metadata, or ``None`` if there is no such session."""
        with self._reading("get_session") as cur:
            found = self._run(cur, "SELECT meta FROM {sessions} WHERE id = ?", session_id).fetchone()
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
            found = self._run(cur, f"SELECT id, meta FROM {{sessions}}{where} ORDER BY created_at, id").fetchall()
        metas = []
        for session_id, blob in found:
            try:
                metas.append(self._meta_of(session_id, blob))
            except CorruptRecordError as exc:  # that session only: the others are listed
                self._dialect.log.warning("session store: leaving session %s out of the list: %s",
                                          session_id, exc.message)
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
        with self._transaction("commit_turn") as cur:
            stored, first_seq = self._meta_in(cur, session_id)  # locks the session: commits to it queue here
            if turn_id is not None:
                earlier = self._earlier_turn(cur, session_id, turn_id, digest)
                if earlier is not None:
                    return earlier
            turn_index = stored.turn_count
            cur.executemany(
                self._dialect.sql("INSERT INTO {messages} (session_id, seq, turn_index, row) VALUES (?, ?, ?, ?)"),
                [(session_id, first_seq + i, turn_index, blob) for i, blob in enumerate(encoded)],
            )
            self._run(cur, "INSERT INTO {turns} (session_id, turn_index, turn_id, first_seq, row_count, digest,"
                      " committed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      session_id, turn_index, turn_id, first_seq, len(encoded), digest, utc_now())
            message_count = first_seq + len(encoded)
            self._write_meta(cur, merge_meta(stored, meta, turn_count=turn_index + 1), message_count)
            if self._before_commit is not None:
                self._before_commit(session_id, turn_index)
        return CommittedTurn(session_id=session_id, turn_index=turn_index, message_count=message_count)

    def _earlier_turn(self, cur: Cursor, session_id: str, turn_id: str, digest: bytes) -> CommittedTurn | None:
        """The result of an earlier commit with ``turn_id``; ``StoreError`` if it had other rows."""
        found = self._run(cur, "SELECT turn_index, first_seq, row_count, digest FROM {turns}"
                          " WHERE session_id = ? AND turn_id = ?", session_id, turn_id).fetchone()
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
            # seq runs 0, 1, 2, ... per session: a range on the primary key costs O(limit), where OFFSET would
            # step over every skipped row.
            found = self._run(cur, "SELECT seq, row FROM {messages} WHERE session_id = ? AND seq >= ? ORDER BY seq"
                              " LIMIT ?", session_id, offset, self._dialect.no_limit if limit is None else limit
                              ).fetchall()
            # Sessions are never deleted, so an existence check after the read is race-free.
            if not found and not self._run(cur, "SELECT 1 FROM {sessions} WHERE id = ?", session_id).fetchone():
                raise not_found(session_id)
        return [decode_row(bytes(blob), session_id=session_id, index=seq,
                           where=self._dialect.where("messages", f"{session_id!r}, {seq}"))
                for seq, blob in found]

    def message_count(self, session_id: str) -> int:
        """Number of committed rows in the session's history."""
        with self._reading("message_count") as cur:
            found = self._run(cur, "SELECT message_count FROM {sessions} WHERE id = ?", session_id).fetchone()
        if found is None:
            raise not_found(session_id)
        return int(found[0])
