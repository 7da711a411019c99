"""Mob records (definition, state, roster, wiring, events, keyed records): the same contract in memory and in
SQLite; SQLite keeps them across reopen, rolls a failed change back, and reports a damaged record as typed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobkat.errors import CorruptRecordError, MobExistsError, MobNotFoundError, StoreError
from mobkat.store.mob_records import MemberRow, MemoryMobRecordStore, MobRecord, MobRecordStore
from mobkat.store.mob_sqlite import MOB_SCHEMA_VERSION, SqliteMobRecordStore, open_mob_records


def _record(mob_id: str = "crew") -> MobRecord:
    return MobRecord(mob_id=mob_id, definition={"id": mob_id, "profiles": {}}, base_dir="/defs")


def _row(name: str, generation: int = 0) -> MemberRow:
    return MemberRow(name=name, profile="worker", generation=generation, session_id=f"s-{name}",
                     runtime_mode="turn_driven", labels={"team": "a"})


@pytest.fixture(params=["memory", "sqlite"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MobRecordStore]:
    store: MobRecordStore = (MemoryMobRecordStore() if request.param == "memory"
                             else SqliteMobRecordStore(tmp_path / "mobs.db"))
    yield store
    store.close()


def test_a_mob_record_round_trips_and_updates(records: MobRecordStore) -> None:
    records.create_mob(_record())
    with pytest.raises(MobExistsError, match="mob already exists: crew"):
        records.create_mob(_record())
    assert records.get_mob("crew") == _record().model_copy(update={"created_at": records.get_mob("crew").created_at,  # type: ignore[union-attr]
                                                                  "updated_at": records.get_mob("crew").updated_at})  # type: ignore[union-attr]
    stopped = records.update_mob("crew", state="Stopped", epoch=2)
    assert (stopped.state, stopped.epoch) == ("Stopped", 2)
    assert records.get_mob("crew") == stopped
    assert records.get_mob("nope") is None
    with pytest.raises(MobNotFoundError, match="mob not found: nope"):
        records.update_mob("nope", state="Running")
    records.create_mob(_record("alpha"))
    assert [r.mob_id for r in records.list_mobs()] == ["alpha", "crew"]


def test_roster_and_wiring_follow_each_change(records: MobRecordStore) -> None:
    records.create_mob(_record())
    for name in ("a", "b", "c"):
        records.put_member("crew", _row(name))
    records.put_member("crew", _row("b", generation=3))  # a restart: same entry, next generation
    records.add_edge("crew", "b", "a")
    records.add_edge("crew", "a", "b")  # one undirected edge
    records.add_edge("crew", "c", "a")
    assert [(m.name, m.generation) for m in records.members("crew")] == [("a", 0), ("b", 3), ("c", 0)]
    assert records.edges("crew") == [("a", "b"), ("a", "c")]
    records.remove_member("crew", "a")  # its edges go with it
    assert records.edges("crew") == []
    records.add_edge("crew", "b", "c")
    records.remove_edge("crew", "c", "b")
    assert records.edges("crew") == []
    records.clear_roster("crew")
    assert records.members("crew") == []
    with pytest.raises(MobNotFoundError):
        records.put_member("ghost", _row("a"))


def test_events_keep_cursor_order_and_skip_a_repeated_cursor(records: MobRecordStore) -> None:
    records.create_mob(_record())
    records.append_events("crew", [(1, 10.0, "mob_started", {}), (2, 11.0, "member_spawned", {"member": "a"})])
    records.append_events("crew", [(2, 99.0, "turn_committed", {}), (3, 12.0, "members_wired", {"a": "a", "b": "b"})])
    assert records.events("crew") == [(1, 10.0, "mob_started", {}), (2, 11.0, "member_spawned", {"member": "a"}),
                                      (3, 12.0, "members_wired", {"a": "a", "b": "b"})]


def test_keyed_records_for_other_features(records: MobRecordStore) -> None:
    records.create_mob(_record())
    records.put_record("crew", "flow_run", "r2", {"status": "pending"})
    records.put_record("crew", "flow_run", "r1", {"status": "pending"})
    records.put_record("crew", "flow_run", "r2", {"status": "completed", "steps": [1, 2]})
    records.put_record("crew", "other", "r1", {"x": 1})
    assert records.get_record("crew", "flow_run", "r2") == {"status": "completed", "steps": [1, 2]}
    assert records.get_record("crew", "flow_run", "r9") is None
    assert records.list_records("crew", "flow_run") == [{"status": "completed", "steps": [1, 2]},
                                                        {"status": "pending"}]


def test_delete_forgets_everything_of_that_mob_only(records: MobRecordStore) -> None:
    for mob_id in ("crew", "other"):
        records.create_mob(_record(mob_id))
        records.put_member(mob_id, _row("a"))
        records.append_events(mob_id, [(1, 1.0, "mob_started", {})])
        records.put_record(mob_id, "flow_run", "r", {})
    records.delete_mob("crew")
    records.delete_mob("crew")  # idempotent
    assert records.get_mob("crew") is None
    records.create_mob(_record("crew"))  # the id is free, and nothing of the old one is there
    assert (records.members("crew"), records.events("crew"), records.list_records("crew", "flow_run")) == ([], [], [])
    assert [m.name for m in records.members("other")] == ["a"]


def test_sqlite_records_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "realm" / "mobs.db"
    with_records = open_mob_records(path.parent)
    with_records.create_mob(_record())
    with_records.put_member("crew", _row("a", generation=1))
    with_records.add_edge("crew", "a", "b")
    with_records.append_events("crew", [(1, 1.0, "mob_started", {"simulator": True})])
    with_records.update_mob("crew", state="Stopped")
    with_records.close()
    with pytest.raises(StoreError, match="is closed"):
        with_records.get_mob("crew")
    again = SqliteMobRecordStore(path)
    try:
        assert again.get_mob("crew").state == "Stopped"  # type: ignore[union-attr]
        assert [(m.name, m.generation) for m in again.members("crew")] == [("a", 1)]
        assert again.edges("crew") == [("a", "b")]
        assert again.events("crew") == [(1, 1.0, "mob_started", {"simulator": True})]
    finally:
        again.close()
    assert isinstance(open_mob_records(None), MemoryMobRecordStore)


def _raw(db: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


def test_a_damaged_record_is_a_typed_error_for_that_mob_only(tmp_path: Path) -> None:
    path = tmp_path / "mobs.db"
    with_records = SqliteMobRecordStore(path)
    for mob_id in ("good", "bad"):
        with_records.create_mob(_record(mob_id))
        with_records.put_member(mob_id, _row("a"))
    with_records.close()
    _raw(path, "UPDATE mob_members SET row = ? WHERE mob_id = 'bad'", b"\xc1 not msgpack")
    _raw(path, "UPDATE mobs SET record = ? WHERE mob_id = 'bad'", b"\x81\xa1x\x01")  # a map, not a record
    again = SqliteMobRecordStore(path)
    try:
        with pytest.raises(CorruptRecordError) as roster:
            again.members("bad")
        assert roster.value.details["mob_id"] == "bad" and "mob_members" in roster.value.details["where"]
        assert roster.value.code == "store_corrupt"
        with pytest.raises(CorruptRecordError, match="mob bad: its mob record cannot be decoded"):
            again.get_mob("bad")
        assert [r.mob_id for r in again.list_mobs()] == ["good"]  # listed without the damaged one
        assert [m.name for m in again.members("good")] == ["a"]
    finally:
        again.close()


def test_a_failed_change_leaves_nothing(tmp_path: Path) -> None:
    """One transaction per change: an edge for an unknown mob is refused and nothing is written."""
    with_records = SqliteMobRecordStore(tmp_path / "mobs.db")
    try:
        with pytest.raises(MobNotFoundError):
            with_records.add_edge("ghost", "a", "b")
        with_records.create_mob(_record("ghost"))
        assert with_records.edges("ghost") == []
    finally:
        with_records.close()


def test_a_newer_schema_an_empty_file_or_a_foreign_file_is_refused(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    SqliteMobRecordStore(newer).close()
    _raw(newer, f"PRAGMA user_version = {MOB_SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="schema version"):
        SqliteMobRecordStore(newer)
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match="empty") as refused:
        SqliteMobRecordStore(empty)
    assert refused.value.details["problem"] == "empty" and empty.read_bytes() == b""
    text = tmp_path / "text.db"
    text.write_text("not a database")
    with pytest.raises(StoreError, match="is not a database"):
        SqliteMobRecordStore(text)
    assert text.read_text() == "not a database"
