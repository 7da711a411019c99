"""Shared helpers of the session-store tests (a uniquely named module, imported by the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mobkat.history import AssistantBlock, BlockAssistantRow, HistoryRow, ToolResult, ToolResultsRow, UserRow
from mobkat.store import MemorySessionStore, PostgresSessionStore, SessionMeta, SessionStore, SqliteSessionStore

if TYPE_CHECKING:
    from postgres_cluster import PostgresCluster

STORE_KINDS = ("memory", "sqlite", "postgres")
ROW_TIME = "2025-01-01T00:00:01.000000Z"  # fixed, so equal turns compare equal


def make_store(kind: str, directory: Path, cluster: PostgresCluster | None = None) -> SessionStore:
    """A fresh store of ``kind``; SQLite stores live in ``directory``, PostgreSQL ones in a new database of
    ``cluster``."""
    if kind == "memory":
        return MemorySessionStore()
    if kind == "postgres":
        assert cluster is not None, "a postgres store needs the test server (the `postgres` fixture)"
        return PostgresSessionStore(cluster.new_database())
    return SqliteSessionStore(directory / "state" / "sessions.db")


def meta(session_id: str, created_at: str = "2025-01-01T00:00:00.000000Z", **extra: object) -> SessionMeta:
    """Session metadata with fixed timestamps, so ordering is under the test's control."""
    return SessionMeta.model_validate(
        {
            "session_id": session_id,
            "model": "gpt-realtime",
            "provider": "openai",
            "created_at": created_at,
            "updated_at": created_at,
            **extra,
        }
    )


def turn_rows(tag: str, n: int = 3) -> list[HistoryRow]:
    """``n`` rows of one turn, each carrying ``run_id=tag`` and its position in the text.

    Timestamps are fixed, so building the same turn twice gives equal rows (as a retry would).
    """
    kinds: list[HistoryRow] = []
    for i in range(n):
        text = f"{tag} row {i}"
        if i == 0:
            kinds.append(UserRow(content=text, run_id=tag, created_at=ROW_TIME))
        elif i % 2 == 1:
            blocks = [AssistantBlock.text(text), AssistantBlock.tool_use(f"call-{tag}-{i}", "echo", {"i": i})]
            row = BlockAssistantRow(blocks=blocks, stop_reason="tool_use", run_id=tag, created_at=ROW_TIME)
            kinds.append(row)
        else:
            results = [ToolResult(tool_use_id=f"call-{tag}", content=text)]
            kinds.append(ToolResultsRow(results=results, run_id=tag, created_at=ROW_TIME))
    return kinds
