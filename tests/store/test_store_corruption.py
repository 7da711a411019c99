"""Damaged SQLite stores: one bad record fails only its session; an emptied or foreign file is refused."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import msgpack
import pytest
from store_helpers import meta, turn_rows

from mobkat.errors import CorruptRecordError, StoreError
from mobkat.store import SqliteSessionStore


def _raw(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(sql, args).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with sessions ``good`` and ``bad`` (3 rows each); closed again."""
    path = tmp_path / "sessions.db"
    with SqliteSessionStore(path) as store:
        store.create_session(meta("good", created_at="2025-01-01T00:00:00.000000Z"))
        store.create_session(meta("bad", created_at="2025-01-02T00:00:00.000000Z"))
        store.commit_turn("good", turn_rows("g"))
        store.commit_turn("bad", turn_rows("b"))
    return path


def test_a_corrupt_row_fails_only_its_session_and_names_the_row(db: Path) -> None:
    _raw(db, "UPDATE messages SET row = ? WHERE session_id = 'bad' AND seq = 2", b"\xc1 not msgpack")
    with SqliteSessionStore(db) as store:
        assert [m.session_id for m in store.list_sessions()] == ["good", "bad"]
        assert store.history("good") == turn_rows("g")
        assert store.history("bad", limit=2) == turn_rows("b")[:2]  # pages before the bad row read fine
        with pytest.raises(CorruptRecordError) as failed:
            store.history("bad")
        assert failed.value.details["session_id"] == "bad" and failed.value.details["row_index"] == 2
        assert failed.value.message.startswith("session bad: history row 2 cannot be decoded")
        assert isinstance(failed.value, StoreError) and failed.value.code == "store_corrupt"
        store.commit_turn("bad", turn_rows("later", 1))  # later turns still commit after it
        assert store.message_count("bad") == 4
    assert _raw(db, "SELECT row FROM messages WHERE session_id = 'bad' AND seq = 2") == [(b"\xc1 not msgpack",)]


def test_a_row_that_is_msgpack_but_no_history_row_does_not_echo_its_content(db: Path) -> None:
    secret = msgpack.packb({"role": "user", "content": 12345, "created_at": "sekrit-value"})
    _raw(db, "UPDATE messages SET row = ? WHERE session_id = 'bad' AND seq = 0", secret)
    with SqliteSessionStore(db) as store, pytest.raises(CorruptRecordError) as failed:
        store.history("bad")
    assert "validation error" in failed.value.message and "sekrit" not in failed.value.message


def test_a_corrupt_session_record_is_left_out_of_the_list_and_never_rewritten(
        db: Path, caplog: pytest.LogCaptureFixture) -> None:
    _raw(db, "UPDATE sessions SET meta = ? WHERE id = 'bad'", b"\x92\x01")
    with SqliteSessionStore(db) as store:
        with caplog.at_level(logging.WARNING, logger="mobkat.store.sqlite"):
            assert [m.session_id for m in store.list_sessions(include_archived=True)] == ["good"]
        assert "leaving session bad out of the list" in caplog.text and "session record" in caplog.text
        for attempt in (lambda: store.get_session("bad"), lambda: store.archive_session("bad"),
                        lambda: store.update_session(meta("bad", instructions="overwrite")),
                        lambda: store.commit_turn("bad", turn_rows("x", 1))):
            with pytest.raises(CorruptRecordError, match="session bad: its session record cannot be decoded"):
                attempt()
        assert store.message_count("bad") == 3
        store.commit_turn("good", turn_rows("g2", 1))  # the others go on
    assert _raw(db, "SELECT meta, turn_count FROM sessions WHERE id = 'bad'") == [(b"\x92\x01", 1)]


def test_an_emptied_store_file_is_refused_and_left_empty(db: Path) -> None:
    db.write_bytes(b"")
    for leftover in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    with pytest.raises(StoreError, match=rf"session store {db} is empty \(0 bytes\)") as refused:
        SqliteSessionStore(db)
    assert refused.value.details == {"path": str(db), "problem": "empty"}
    assert db.stat().st_size == 0  # never silently re-created


def test_a_garbage_header_is_refused_and_left_alone(db: Path) -> None:
    garbage = b"GARBAGE!" * 512 + db.read_bytes()[4096:]
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match=rf"session store {db} is not a database"):
        SqliteSessionStore(db)
    assert db.read_bytes() == garbage


def test_another_programs_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "sessions.db"
    _raw(other, "CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="SQLite database of something else"):
        SqliteSessionStore(other)
    assert _raw(other, "SELECT name FROM sqlite_master WHERE type = 'table'") == [("invoices",)]


def test_a_new_store_appears_whole_even_when_many_open_it_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "sessions.db"
    start = threading.Barrier(6)
    opened: list[SqliteSessionStore] = []
    errors: list[BaseException] = []

    def open_it(n: int) -> None:
        start.wait(timeout=10)
        try:
            store = SqliteSessionStore(path)
            store.create_session(meta(f"s{n}"))
            opened.append(store)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert sorted(m.session_id for m in opened[0].list_sessions()) == [f"s{n}" for n in range(6)]
    finally:
        for store in opened:
            store.close()
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.startswith("sessions.db")) == []
