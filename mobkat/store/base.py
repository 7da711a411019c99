"""The session store contract: session metadata, the commit result, and the ``SessionStore`` protocol.

Shared helpers here (row codec, turn digest, input checks, metadata merge) keep the SQLite and
in-memory stores on exactly the same semantics.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mobkat.errors import CorruptRecordError, InvalidInputError, SessionNotFoundError, StoreError
from mobkat.history import (
    BlockAssistantRow,
    HistoryRow,
    SystemNoticeRow,
    SystemRow,
    ToolResultsRow,
    UserRow,
    row_from_wire,
    row_to_wire,
    utc_now,
)

ROW_TYPES = (UserRow, BlockAssistantRow, ToolResultsRow, SystemRow, SystemNoticeRow)

# Fields the store owns: whatever a caller passes for them in ``update_session`` / ``commit_turn``
# is replaced by the store's own value (``archived`` changes only through ``archive_session``).
STORE_OWNED_FIELDS = ("created_at", "updated_at", "turn_count", "archived")


class SessionMeta(BaseModel):
    """What the store keeps about a session besides its history rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str = Field(min_length=1)
    model: str
    provider: str
    instructions: str = ""
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)
    archived: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    turn_count: int = Field(default=0, ge=0, description="Number of committed turns (store-owned).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Tool names, live settings, ...")


class CommittedTurn(BaseModel):
    """The result of ``commit_turn``: which turn it became and the history length after it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str
    turn_index: int = Field(ge=0)
    message_count: int = Field(ge=0)


@runtime_checkable
class SessionStore(Protocol):
    """Durable sessions and their history. Every method is thread-safe.

    A turn is the unit of commit: all its rows appear together or not at all. Unknown session
    ids raise ``SessionNotFoundError``; I/O and integrity failures raise ``StoreError``. A stored
    record that cannot be decoded is a ``CorruptRecordError`` (a ``StoreError``) for its session only:
    ``list_sessions`` leaves that session out (with a log line) and the record is never rewritten.
    """

    def create_session(self, meta: SessionMeta) -> None:
        """Add a new session; an existing ``session_id`` raises ``StoreError``."""
        ...

    def get_session(self, session_id: str) -> SessionMeta | None:
        """The session's metadata, or ``None`` if there is no such session."""
        ...

    def update_session(self, meta: SessionMeta) -> None:
        """Replace the caller-owned fields of a session's metadata (see ``STORE_OWNED_FIELDS``)."""
        ...

    def list_sessions(self, *, include_archived: bool = False) -> list[SessionMeta]:
        """All sessions ordered by ``created_at``, then ``session_id`` (sessions whose record cannot be
        decoded are left out and logged; ``get_session`` of one raises ``CorruptRecordError``)."""
        ...

    def archive_session(self, session_id: str) -> None:
        """Mark a session archived (idempotent); its history stays readable."""
        ...

    def commit_turn(
        self,
        session_id: str,
        rows: Sequence[HistoryRow],
        *,
        meta: SessionMeta | None = None,
        turn_id: str | None = None,
    ) -> CommittedTurn:
        """Append all rows of one turn atomically, with ``meta`` in the same transaction.

        A repeated ``turn_id`` for the session is a no-op returning the original result; reusing
        it with different rows raises ``StoreError``.
        """
        ...

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed rows in order, from ``offset``, at most ``limit`` of them."""
        ...

    def message_count(self, session_id: str) -> int:
        """Number of committed rows in the session's history."""
        ...

    def close(self) -> None:
        """Release resources; later calls raise ``StoreError``. Closing twice is harmless."""
        ...


# --- shared helpers -------------------------------------------------------------------------


def encode_row(row: HistoryRow) -> bytes:
    """msgpack bytes of the row's wire dict."""
    data: bytes = msgpack.packb(row_to_wire(row), use_bin_type=True)
    return data


def _problem(exc: Exception) -> str:
    """What is wrong with a record, without echoing its content (pydantic errors would quote the input)."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        return f"{exc.error_count()} validation error(s), first at {where}: {first['msg']}"
    if isinstance(exc, msgpack.UnpackException) and not str(exc):
        return f"{type(exc).__name__}: the bytes are not valid msgpack"
    return f"{type(exc).__name__}: {exc}"[:200]


def decode_row(blob: bytes, *, session_id: str, index: int, where: str) -> HistoryRow:
    """Parse msgpack bytes back into row ``index`` of ``session_id``; ``where`` names the record (file, key).

    An undecodable row is a ``CorruptRecordError`` for that session only; the stored bytes stay as they are.
    """
    try:
        return row_from_wire(msgpack.unpackb(blob, raw=False))
    except (ValueError, TypeError, msgpack.UnpackException, ValidationError) as exc:
        raise CorruptRecordError(
            f"session {session_id}: history row {index} cannot be decoded ({_problem(exc)}); corrupt history row "
            f"at {where}. The row is kept as stored: restore the store from a backup to read this session",
            details={"session_id": session_id, "row_index": index, "where": where}) from exc


def encode_meta(meta: SessionMeta) -> bytes:
    """msgpack bytes of the metadata's JSON dump."""
    data: bytes = msgpack.packb(meta.model_dump(mode="json"), use_bin_type=True)
    return data


def decode_meta(blob: bytes, *, session_id: str, where: str) -> SessionMeta:
    """Parse msgpack bytes back into ``SessionMeta``; an undecodable record is a ``CorruptRecordError``."""
    try:
        return SessionMeta.model_validate(msgpack.unpackb(blob, raw=False))
    except (ValueError, TypeError, msgpack.UnpackException, ValidationError) as exc:
        raise CorruptRecordError(
            f"session {session_id}: its session record cannot be decoded ({_problem(exc)}); corrupt session "
            f"record at {where}. The record is kept as stored: restore the store from a backup to use this session",
            details={"session_id": session_id, "where": where}) from exc


def turn_digest(encoded_rows: Sequence[bytes]) -> bytes:
    """A SHA-256 over a turn's encoded rows, used to detect a ``turn_id`` reused for other rows."""
    digest = hashlib.sha256()
    for blob in encoded_rows:
        digest.update(len(blob).to_bytes(8, "big"))
        digest.update(blob)
    return digest.digest()


def check_turn_input(
    session_id: str, rows: Sequence[HistoryRow], meta: SessionMeta | None, turn_id: str | None
) -> None:
    """Reject a commit that could never be valid, before touching storage."""
    if not rows:
        raise InvalidInputError(f"commit_turn for session {session_id!r}: a turn needs at least one row")
    for i, row in enumerate(rows):
        if not isinstance(row, ROW_TYPES):
            raise InvalidInputError(
                f"commit_turn for session {session_id!r}: rows[{i}] is {type(row).__name__}, "
                "not a history row"
            )
    if meta is not None and meta.session_id != session_id:
        raise InvalidInputError(
            f"commit_turn for session {session_id!r} got meta for session {meta.session_id!r}"
        )
    if turn_id is not None and not turn_id:
        raise InvalidInputError(f"commit_turn for session {session_id!r}: turn_id must not be empty")


def check_page(offset: int, limit: int | None) -> None:
    """Reject negative paging arguments."""
    if offset < 0:
        raise InvalidInputError(f"history offset must be >= 0, got {offset}")
    if limit is not None and limit < 0:
        raise InvalidInputError(f"history limit must be >= 0 or None, got {limit}")


def merge_meta(stored: SessionMeta, given: SessionMeta | None, *, turn_count: int) -> SessionMeta:
    """The metadata to write: caller-owned fields from ``given``, store-owned ones from the store."""
    base = given if given is not None else stored
    return base.model_copy(
        deep=True,
        update={
            "created_at": stored.created_at,
            "archived": stored.archived,
            "turn_count": turn_count,
            "updated_at": utc_now(),
        },
    )


def fresh_meta(meta: SessionMeta) -> SessionMeta:
    """The metadata ``create_session`` writes: a private copy with no committed turns."""
    return meta.model_copy(deep=True, update={"turn_count": 0})


def not_found(session_id: str) -> SessionNotFoundError:
    """The error for an unknown session id."""
    return SessionNotFoundError(f"session not found: {session_id!r}", details={"session_id": session_id})


def duplicate(session_id: str) -> StoreError:
    """The error for creating a session that already exists."""
    return StoreError(f"session already exists: {session_id!r}", details={"session_id": session_id})


def reused_turn_id(session_id: str, turn_id: str) -> StoreError:
    """The error for a ``turn_id`` committed again with different rows."""
    return StoreError(
        f"turn_id {turn_id!r} of session {session_id!r} was already committed with different rows",
        details={"session_id": session_id, "turn_id": turn_id},
    )


def closed_error(what: str) -> StoreError:
    """The error for using a store after ``close()``."""
    return StoreError(f"{what} is closed")
