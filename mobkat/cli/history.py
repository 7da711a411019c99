"""``mobkat history DB [SESSION]``: read committed histories from a store (e.g. the one ``mobkat run`` names)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mobkat.errors import InvalidInputError, SessionNotFoundError
from mobkat.history import row_text, row_to_wire
from mobkat.store import SqliteSessionStore


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("history", help="list sessions in a store, or print one session's history")
    parser.add_argument("db", help="the sessions.db file (mobkat run prints its path)")
    parser.add_argument("session", nargs="?", help="a session id, or a mob member name")
    parser.add_argument("--json", action="store_true", help="print rows in their wire shape, one per line")
    parser.set_defaults(func=_history)


def _history(args: argparse.Namespace) -> int:
    path = Path(args.db)
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such store file (mobkat run prints where histories are stored)")
    store = SqliteSessionStore(path)
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
        for meta in matches:
            for row in store.history(meta.session_id):
                if args.json:
                    print(json.dumps(row_to_wire(row)))
                else:
                    print(f"{row.created_at}  {row.role:<15} {row_text(row)}")
        return 0
    finally:
        store.close()
