"""SQLite-specific behaviour: reopening, on-disk layout, rollback, shared files, bad files."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import msgpack
import pytest
from store_helpers import meta, turn_rows

from mobkat.errors import SessionNotFoundError, StoreError
from mobkat.history import row_to_wire
from mobkat.store import SCHEMA_VERSION, MemorySessionStore, SqliteSessionStore, open_store


def test_reopening_shows_every_session_turn_and_turn_id(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "sessions.db"
    with SqliteSessionStore(db) as store:
        store.create_session(meta("a", labels={"k": "v"}))
        store.create_session(meta("b", created_at="2025-02-01T00:00:00.000000Z"))
        first = store.commit_turn("a", turn_rows("t0"), turn_id="x", meta=meta("a", metadata={"n": 1}))
        store.commit_turn("a", turn_rows("t1", 2))
        store.archive_session("b")
        before = store.list_sessions(include_archived=True)
    with SqliteSessionStore(db) as store:
        assert store.list_sessions(include_archived=True) == before
        assert store.history("a") == turn_rows("t0") + turn_rows("t1", 2)
        got = store.get_session("a")
        assert got is not None and (got.turn_count, got.metadata) == (2, {"n": 1})
        assert store.commit_turn("a", turn_rows("t0"), turn_id="x") == first  # idempotency survives
        assert store.message_count("a") == 5


def test_open_store_picks_memory_or_sqlite_under_the_state_root(tmp_path: Path) -> None:
    assert isinstance(open_store(None), MemorySessionStore)
    store = open_store(tmp_path / "state")
    try:
        assert isinstance(store, SqliteSessionStore)
        assert store.path == tmp_path / "state" / "sessions.db"
        assert store.path.exists()
    finally:
        store.close()


def test_file_layout_is_wal_with_msgpack_rows(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    rows = turn_rows("t0")
    with SqliteSessionStore(db) as store:
        store.create_session(meta("s1"))
        store.commit_turn("s1", rows, turn_id="turn-A")
        raw = sqlite3.connect(db)
        try:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
            stored = raw.execute("SELECT seq, turn_index, row FROM messages ORDER BY seq").fetchall()
            turns = raw.execute("SELECT turn_index, turn_id, first_seq, row_count FROM turns").fetchall()
        finally:
            raw.close()
    assert [(seq, turn) for seq, turn, _ in stored] == [(0, 0), (1, 0), (2, 0)]
    assert [msgpack.unpackb(blob) for _, _, blob in stored] == [row_to_wire(r) for r in rows]
    assert turns == [(0, "turn-A", 0, 3)]


def test_a_failure_inside_the_transaction_leaves_no_trace(tmp_path: Path) -> None:
    fail_turns = {1}

    def before_commit(_session_id: str, turn_index: int) -> None:
        if turn_index in fail_turns:
            raise RuntimeError("boom before COMMIT")

    with SqliteSessionStore(tmp_path / "s.db", _before_commit=before_commit) as store:
        store.create_session(meta("s1"))
        store.commit_turn("s1", turn_rows("t0"))
        with pytest.raises(RuntimeError, match="boom"):
            store.commit_turn("s1", turn_rows("t1"), turn_id="retry-me", meta=meta("s1", instructions="x"))
        got = store.get_session("s1")
        assert got is not None and (got.turn_count, got.instructions) == (1, "")
        assert store.history("s1") == turn_rows("t0")
        fail_turns.clear()
        done = store.commit_turn("s1", turn_rows("t1"), turn_id="retry-me")
        assert (done.turn_index, done.message_count) == (1, 6)


def test_two_connections_on_one_file_never_interleave_turns(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with SqliteSessionStore(db) as one, SqliteSessionStore(db) as two:
        one.create_session(meta("s1"))
        start = threading.Barrier(4)

        def worker(store: SqliteSessionStore, name: str) -> None:
            start.wait(timeout=10)
            for k in range(25):
                store.commit_turn("s1", turn_rows(f"{name}-{k}", 4))

        threads = [
            threading.Thread(target=worker, args=(store, f"{tag}{n}"))
            for store, tag in ((one, "one"), (two, "two"))
            for n in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive()
        history = two.history("s1")
        assert len(history) == 4 * 25 * 4
        for start_at in range(0, len(history), 4):
            tag = history[start_at].run_id
            assert tag is not None
            assert history[start_at : start_at + 4] == turn_rows(tag, 4)
        got = one.get_session("s1")
        assert got is not None and got.turn_count == 100


def test_a_newer_schema_is_refused_by_name(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    SqliteSessionStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}.*up to {SCHEMA_VERSION}"):
        SqliteSessionStore(db)


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"sessions\.db.*not a database"):
        SqliteSessionStore(db)


def test_an_unusable_directory_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the directory"):
        SqliteSessionStore(tmp_path / "file" / "sessions.db")


def test_a_corrupt_row_is_reported_with_its_location(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    with SqliteSessionStore(db) as store:
        store.create_session(meta("s1"))
        store.commit_turn("s1", turn_rows("t0"))
        raw = sqlite3.connect(db)
        raw.execute("UPDATE messages SET row = ? WHERE seq = 1", (msgpack.packb({"role": "nope"}),))
        raw.commit()
        raw.close()
        with pytest.raises(StoreError, match=r"corrupt history row at .*messages\['s1', 1\]"):
            store.history("s1")
        assert store.history("s1", limit=1) == turn_rows("t0")[:1]
        with pytest.raises(SessionNotFoundError):
            store.history("ghost")
