"""A SQLite store's file: made atomically, and refused (never overwritten) when empty or not SQLite; and its
write transactions.

Shared by the session store (``sessions.db``) and the mob record store (``mobs.db``)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mobkat.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    """One ``BEGIN IMMEDIATE`` transaction on ``conn`` (autocommit mode): committed if the block succeeds,
    rolled back if it raises."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        yield cur
        cur.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def create_atomically(path: Path, build: Callable[[Path], None], what: str) -> None:
    """Make a new store file: ``build`` it beside ``path``, then hard-link it into place.

    So ``path`` never exists half-made (never 0 bytes), and a 0-byte ``path`` always means a store that
    lost its contents. A process that loses the race uses the winner's file. ``what`` names the store in
    errors (e.g. ``"session store"``)."""
    building = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.new")
    try:
        build(building)
        try:
            os.link(building, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: move it, if nobody was first
            if not path.exists():
                os.replace(building, path)
    except OSError as exc:
        raise StoreError(f"cannot create {what} {path}: {exc}", details={"path": str(path)}) from exc
    finally:
        for leftover in (building, building.with_name(building.name + "-wal"),
                         building.with_name(building.name + "-shm")):
            leftover.unlink(missing_ok=True)


def check_sqlite_file(path: Path, what: str, instead: str) -> None:
    """Refuse a store file that is empty or not SQLite: it is never silently re-created or overwritten.

    ``instead`` ends the advice ("move it away to ``instead``")."""
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"cannot read {what} {path}: {exc}", details={"path": str(path)}) from exc
    if not header:
        raise StoreError(
            f"{what} {path} is empty (0 bytes): a store that existed has lost its contents, so it is not opened "
            f"(opening it would silently start empty). Restore it from a backup, or move it away to {instead}",
            details={"path": str(path), "problem": "empty"})
    if header != SQLITE_HEADER:
        raise StoreError(
            f"{what} {path} is not a database (it does not start with the SQLite header), so it is not opened "
            f"and never overwritten. Restore it from a backup, or move it away to {instead}",
            details={"path": str(path), "problem": "not_sqlite"})
