"""``mobkat history DB [SESSION]``: read committed histories from a store (e.g. the one ``mobkat run`` names)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mobkat.errors import InvalidInputError, SessionNotFoundError
from mobkat.history import BlockAssistantRow, HistoryRow, ToolResultsRow, row_text, row_to_wire
from mobkat.store import SessionMeta, SessionStore, SqliteSessionStore
from mobkat.store.spec import StoreSpec

ROLE_WORDS = {"user": "user", "block_assistant": "assistant", "tool_results": "tool result",
              "system": "system", "system_notice": "notice"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("history", help="list sessions in a store, or print one session's history")
    parser.add_argument("db", help="the sessions.db file (mobkat run prints its path), or a PostgreSQL DSN "
                                   "(postgresql://user@host/db) with --schema")
    parser.add_argument("--schema", help="with a PostgreSQL DSN: the schema (a mob's is mob_<id>; default mobkat)")
    parser.add_argument("session", nargs="?", help="a session id, or a mob member name")
    parser.add_argument("--json", action="store_true", help="print rows in their wire shape, one per line")
    parser.set_defaults(func=_history)


def open_store(db: str, schema: str | None) -> tuple[SessionStore, str]:
    """The store ``db`` names (a SQLite file, or a PostgreSQL DSN) and how to name it in messages (no password)."""
    if db.startswith(("postgresql://", "postgres://")) or "dbname=" in db:
        spec = StoreSpec(kind="postgres", location=db, schema_name=schema or "mobkat")
        return spec.open(), spec.describe()
    if schema is not None:
        raise InvalidInputError(f"--schema is for a PostgreSQL DSN, not the file {db}")
    path = Path(db)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such store file (mobkat run prints where histories are stored)")
    return SqliteSessionStore(path), str(path)


def _history(args: argparse.Namespace) -> int:
    store, path = open_store(args.db, args.schema)
    try:
        sessions = store.list_sessions(include_archived=True)
        if args.session is None:
            for meta in sessions:
                label = meta.labels.get("member", "")
                print(f"{meta.session_id}  {meta.model:<16} {store.message_count(meta.session_id):>4} rows  "
                      f"{meta.updated_at}  {label}")
            return 0
        matches = [m for m in sessions if args.session in (m.session_id, m.labels.get("member"))]
        if not matches:
            raise SessionNotFoundError(f"{path}: no session or member named {args.session!r}")
        for index, meta in enumerate(matches):
            rows = store.history(meta.session_id)
            if args.json:
                for row in rows:
                    print(json.dumps(row_to_wire(row)))
                continue
            if index:
                print()
            print(session_header(meta, len(rows)))
            for row in rows:
                for line in render_row(row):
                    print(line)
        return 0
    finally:
        store.close()


def session_header(meta: SessionMeta, rows: int) -> str:
    """``== session ID: member M (mob X), model, N rows, created ... ==``."""
    labels = meta.labels
    who = f"member {labels['member']}" if labels.get("member") else "session"
    mob = f" of mob {labels['mob_id']}" if labels.get("mob_id") else ""
    return f"== {who}{mob}: session {meta.session_id}, model {meta.model}, {rows} rows, started {meta.created_at} =="


def render_row(row: HistoryRow) -> list[str]:
    """A row as readable lines: tool calls with their arguments, tool results with their call's name."""
    stamp = row.created_at
    role = ROLE_WORDS.get(row.role, row.role)
    lines: list[str] = []
    if isinstance(row, BlockAssistantRow):
        if row.text:
            lines.append(f"{stamp}  {role:<11} {row.text}")
        for block in row.tool_uses:
            arguments = json.dumps(block.data.get("args", {}), ensure_ascii=False)
            lines.append(f"{stamp}  {'tool call':<11} {block.data.get('name')}({arguments})  "
                         f"[call {block.data.get('id')}]")
        return lines or [f"{stamp}  {role:<11} (no text)"]
    if isinstance(row, ToolResultsRow):
        return [f"{stamp}  {role:<11} {'ERROR ' if result.is_error else ''}{result.content}  "
                f"[call {result.tool_use_id}]" for result in row.results]
    return [f"{stamp}  {role:<11} {row_text(row)}"]
