"""Session stores: durable history and metadata of sessions (SQLite by default, in memory, or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from mobkat.store.base import STORE_OWNED_FIELDS, CommittedTurn, SessionMeta, SessionStore
from mobkat.store.memory import MemorySessionStore
from mobkat.store.postgres import PostgresSessionStore
from mobkat.store.sqlite import SCHEMA_VERSION, SqliteSessionStore

SESSIONS_DB = "sessions.db"


def open_store(state_root: Path | None) -> SessionStore:
    """``MemorySessionStore`` when ``state_root`` is ``None``, else ``<state_root>/sessions.db``."""
    if state_root is None:
        return MemorySessionStore()
    return SqliteSessionStore(Path(state_root) / SESSIONS_DB)


__all__ = [
    "SCHEMA_VERSION",
    "SESSIONS_DB",
    "STORE_OWNED_FIELDS",
    "CommittedTurn",
    "MemorySessionStore",
    "PostgresSessionStore",
    "SessionMeta",
    "SessionStore",
    "SqliteSessionStore",
    "open_store",
]
