"""An in-process session store with the same semantics as the SQLite one (nothing survives exit)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from mobkat.history import HistoryRow, utc_now
from mobkat.store.base import (
    CommittedTurn,
    SessionMeta,
    check_page,
    check_turn_input,
    closed_error,
    duplicate,
    encode_row,
    fresh_meta,
    merge_meta,
    not_found,
    reused_turn_id,
    turn_digest,
)


@dataclass
class _Session:
    meta: SessionMeta
    rows: list[HistoryRow] = field(default_factory=list)
    # turn_id -> (result, digest of the turn's encoded rows)
    turns_by_id: dict[str, tuple[CommittedTurn, bytes]] = field(default_factory=dict)


class MemorySessionStore:
    """``SessionStore`` kept in dicts behind one lock; used when there is no state root."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._closed = False

    def __enter__(self) -> MemorySessionStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _session(self, session_id: str) -> _Session:
        if self._closed:
            raise closed_error("memory session store")
        session = self._sessions.get(session_id)
        if session is None:
            raise not_found(session_id)
        return session

    def create_session(self, meta: SessionMeta) -> None:
        """Add a new session; an existing ``session_id`` raises ``StoreError``."""
        with self._lock:
            if self._closed:
                raise closed_error("memory session store")
            if meta.session_id in self._sessions:
                raise duplicate(meta.session_id)
            self._sessions[meta.session_id] = _Session(meta=fresh_meta(meta))

    def get_session(self, session_id: str) -> SessionMeta | None:
        """The session's metadata, or ``None`` if there is no such session."""
        with self._lock:
            if self._closed:
                raise closed_error("memory session store")
            session = self._sessions.get(session_id)
            return None if session is None else session.meta.model_copy(deep=True)

    def update_session(self, meta: SessionMeta) -> None:
        """Replace the caller-owned fields of a session's metadata."""
        with self._lock:
            session = self._session(meta.session_id)
            session.meta = merge_meta(session.meta, meta, turn_count=session.meta.turn_count)

    def list_sessions(self, *, include_archived: bool = False) -> list[SessionMeta]:
        """All sessions ordered by ``created_at``, then ``session_id``."""
        with self._lock:
            if self._closed:
                raise closed_error("memory session store")
            metas = [s.meta for s in self._sessions.values() if include_archived or not s.meta.archived]
            metas.sort(key=lambda m: (m.created_at, m.session_id))
            return [m.model_copy(deep=True) for m in metas]

    def archive_session(self, session_id: str) -> None:
        """Mark a session archived (idempotent)."""
        with self._lock:
            session = self._session(session_id)
            if not session.meta.archived:
                session.meta = session.meta.model_copy(update={"archived": True, "updated_at": utc_now()})

    def commit_turn(
        self,
        session_id: str,
        rows: Sequence[HistoryRow],
        *,
        meta: SessionMeta | None = None,
        turn_id: str | None = None,
    ) -> CommittedTurn:
        """Append all rows of one turn atomically (idempotent per ``turn_id``)."""
        check_turn_input(session_id, rows, meta, turn_id)
        digest = turn_digest([encode_row(row) for row in rows])
        with self._lock:
            session = self._session(session_id)
            if turn_id is not None and turn_id in session.turns_by_id:
                result, first_digest = session.turns_by_id[turn_id]
                if first_digest != digest:
                    raise reused_turn_id(session_id, turn_id)
                return result
            turn_index = session.meta.turn_count
            new_meta = merge_meta(session.meta, meta, turn_count=turn_index + 1)
            session.rows.extend(rows)
            session.meta = new_meta
            result = CommittedTurn(
                session_id=session_id, turn_index=turn_index, message_count=len(session.rows)
            )
            if turn_id is not None:
                session.turns_by_id[turn_id] = (result, digest)
            return result

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed rows in order, from ``offset``, at most ``limit`` of them."""
        check_page(offset, limit)
        with self._lock:
            rows = self._session(session_id).rows
            end = None if limit is None else offset + limit
            return list(rows[offset:end])

    def message_count(self, session_id: str) -> int:
        """Number of committed rows in the session's history."""
        with self._lock:
            return len(self._session(session_id).rows)

    def close(self) -> None:
        """Drop everything; later calls raise ``StoreError``."""
        with self._lock:
            self._closed = True
            self._sessions.clear()

