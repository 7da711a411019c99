"""The PostgreSQL store beyond the shared contract: several stores ("nodes") on one database, its schema,
its connection pool, and damaged records. Against a real server (the ``postgres`` fixture)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_cluster import PostgresCluster
from store_helpers import meta, turn_rows

from mobkat.cli.main import build_parser
from mobkat.cli.rpc import options_from
from mobkat.errors import CorruptRecordError, InvalidInputError, StoreError
from mobkat.history import HistoryRow
from mobkat.rpc.options import STORE_DSN_ENV, ServerOptions
from mobkat.rpc.realms import Realm
from mobkat.store import CommittedTurn, PostgresSessionStore, SessionStore
from mobkat.store.postgres import SCHEMA_VERSION, realm_schema


@pytest.fixture
def dsn(postgres: PostgresCluster) -> str:
    """A fresh, empty database."""
    return postgres.new_database()


@pytest.fixture
def node(dsn: str) -> Iterator[Callable[..., PostgresSessionStore]]:
    """Opens stores on the test's database (each one stands for a mobkat process on another host)."""
    opened: list[PostgresSessionStore] = []

    def open_one(**kwargs: Any) -> PostgresSessionStore:
        store = PostgresSessionStore(dsn, **kwargs)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def _sql(dsn: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(query, args or None)
        return cur.fetchall() if cur.description else []


OTHER_CONNECTIONS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                     " AND pid <> pg_backend_pid()")


def _connections_become(dsn: str, wanted: int, timeout: float = 10.0) -> int:
    """The number of other connections to the database, polled until it is ``wanted`` (a closed or terminated
    connection's server process takes a moment to go)."""
    deadline = threading.Event()
    for _ in range(int(timeout / 0.05)):
        count = int(_sql(dsn, OTHER_CONNECTIONS)[0][0])
        if count == wanted:
            return count
        deadline.wait(0.05)
    return count


def _run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def run(target: Callable[[], None]) -> None:
        try:
            start.wait(timeout=10)
            target()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert errors == []


# --- two nodes, one database ------------------------------------------------------------------


def test_two_nodes_see_each_others_committed_turns(node: Callable[..., PostgresSessionStore]) -> None:
    one, two = node(), node()
    one.create_session(meta("s1", labels={"k": "v"}))
    first = one.commit_turn("s1", turn_rows("t0"), turn_id="A", meta=meta("s1", metadata={"n": 1}))
    assert two.get_session("s1") == one.get_session("s1")
    assert two.history("s1") == turn_rows("t0")
    second = two.commit_turn("s1", turn_rows("t1", 2))  # a member restarted on the other host goes on
    assert second == CommittedTurn(session_id="s1", turn_index=1, message_count=5)
    assert one.history("s1") == turn_rows("t0") + turn_rows("t1", 2)
    assert two.commit_turn("s1", turn_rows("t0"), turn_id="A") == first  # a retry on the other node: a no-op
    two.archive_session("s1")
    assert [(m.session_id, m.archived, m.turn_count) for m in one.list_sessions(include_archived=True)] == [
        ("s1", True, 2)]


def test_concurrent_commits_from_two_nodes_stay_whole_and_happen_once(
        node: Callable[..., PostgresSessionStore]) -> None:
    """Four threads on each of two nodes commit to one session; every turn is also retried on the other node at
    the same moment, so both race to commit the same ``turn_id``."""
    one, two = node(max_connections=2), node(max_connections=2)
    one.create_session(meta("s1"))
    turns_each, rows_per_turn = 10, 3
    results: dict[str, list[CommittedTurn]] = {}
    lock = threading.Lock()

    def worker(store: SessionStore, w: int) -> None:
        for k in range(turns_each):
            tag = f"w{w}-{k}"
            done = store.commit_turn("s1", turn_rows(tag, rows_per_turn), turn_id=tag)
            with lock:
                results.setdefault(tag, []).append(done)

    def on(store: SessionStore, w: int) -> Callable[[], None]:
        return lambda: worker(store, w)

    _run_threads([on(store, w) for w in range(4) for store in (one, two)])  # both nodes run worker w's turns

    assert len(results) == 4 * turns_each
    assert all(len(done) == 2 and done[0] == done[1] for done in results.values())  # the retry got the same turn
    history = two.history("s1")
    assert len(history) == 4 * turns_each * rows_per_turn
    by_index = sorted((done[0].turn_index, tag) for tag, done in results.items())
    assert [index for index, _ in by_index] == list(range(4 * turns_each))
    for index, tag in by_index:  # each turn's rows sit together, where its commit said
        start = index * rows_per_turn
        assert history[start:start + rows_per_turn] == turn_rows(tag, rows_per_turn)
    got = one.get_session("s1")
    assert got is not None and got.turn_count == 4 * turns_each


def test_realms_in_one_database_do_not_see_each_other(node: Callable[..., PostgresSessionStore]) -> None:
    red, blue = node(schema=realm_schema("red")), node(schema=realm_schema("blue"))
    red.create_session(meta("s1"))
    red.commit_turn("s1", turn_rows("r"))
    assert blue.get_session("s1") is None and blue.list_sessions() == []
    blue.create_session(meta("s1"))
    assert blue.message_count("s1") == 0 and red.message_count("s1") == 3


def test_realm_schema_names_fit_postgres_and_stay_distinct() -> None:
    long_a, long_b = "a" * 120 + "x", "a" * 120 + "y"
    assert realm_schema("team-b.2") == "mobkat_team-b.2"
    assert len(realm_schema(long_a)) == 63 and realm_schema(long_a) != realm_schema(long_b)


# --- atomicity and the schema -----------------------------------------------------------------


def test_a_failure_inside_the_transaction_leaves_no_trace(node: Callable[..., PostgresSessionStore]) -> None:
    def before_commit(session_id: str, turn_index: int) -> None:
        if turn_index == 1:
            raise RuntimeError("power cut")

    store = node(_before_commit=before_commit)
    store.create_session(meta("s1"))
    store.commit_turn("s1", turn_rows("t0"))
    with pytest.raises(RuntimeError, match="power cut"):
        store.commit_turn("s1", turn_rows("t1"), turn_id="retry-me", meta=meta("s1", instructions="x"))
    other = node()
    got = other.get_session("s1")
    assert got is not None and (got.turn_count, got.instructions) == (1, "")
    assert other.history("s1") == turn_rows("t0")
    assert other.commit_turn("s1", turn_rows("t1"), turn_id="retry-me").turn_index == 1  # nothing was kept


def test_many_nodes_creating_the_schema_at_once_all_open_it(node: Callable[..., PostgresSessionStore],
                                                             dsn: str) -> None:
    opened: list[PostgresSessionStore] = []

    def open_and_write(n: int) -> Callable[[], None]:
        def run() -> None:
            store = node(schema="fresh")
            store.create_session(meta(f"s{n}"))
            opened.append(store)
        return run

    _run_threads([open_and_write(n) for n in range(6)])
    assert sorted(m.session_id for m in opened[0].list_sessions()) == [f"s{n}" for n in range(6)]
    assert _sql(dsn, "SELECT version FROM fresh.schema_version") == [(SCHEMA_VERSION,)]


def test_a_newer_schema_and_a_foreign_schema_are_refused(node: Callable[..., PostgresSessionStore], dsn: str) -> None:
    node().close()
    _sql(dsn, f"UPDATE mobkat.schema_version SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}; this mobkat understands up to"):
        node()
    _sql(dsn, "CREATE SCHEMA shop")
    _sql(dsn, "CREATE TABLE shop.invoices (id INTEGER)")
    with pytest.raises(StoreError, match="holds tables that are not mobkat's"):
        node(schema="shop")
    assert _sql(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'shop'") == [("invoices",)]


def test_bad_schema_names_and_unreachable_servers_are_typed_errors(postgres: PostgresCluster) -> None:
    with pytest.raises(InvalidInputError, match="schema name 'x\"; DROP' is not valid"):
        PostgresSessionStore(postgres.dsn("postgres"), schema='x"; DROP')
    nowhere = f"postgresql://mobkat:sekrit@/nowhere?host={postgres.root}/missing"
    with pytest.raises(StoreError, match="cannot connect to session store postgresql://mobkat@") as failed:
        PostgresSessionStore(nowhere)
    assert "sekrit" not in failed.value.message


# --- the connection pool ----------------------------------------------------------------------


def test_connections_stay_within_the_bound(node: Callable[..., PostgresSessionStore], dsn: str) -> None:
    store = node(max_connections=2)
    store.create_session(meta("s1"))

    def commits(w: int) -> Callable[[], None]:
        def run() -> None:
            for k in range(10):
                store.commit_turn("s1", turn_rows(f"w{w}-{k}", 1))
        return run

    _run_threads([commits(w) for w in range(6)])
    assert store.message_count("s1") == 60
    assert 1 <= _sql(dsn, OTHER_CONNECTIONS)[0][0] <= 2


def test_dropped_connections_fail_one_call_then_reconnect(node: Callable[..., PostgresSessionStore],
                                                          dsn: str) -> None:
    store = node(max_connections=1)
    store.create_session(meta("s1"))
    _sql(dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
              " WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert _connections_become(dsn, 0) == 0
    with pytest.raises(StoreError, match="get_session failed"):
        store.get_session("s1")
    assert store.commit_turn("s1", turn_rows("t0")).message_count == 3  # a fresh connection


def test_a_closed_store_closes_its_connections(node: Callable[..., PostgresSessionStore], dsn: str) -> None:
    store = node(max_connections=3)
    store.create_session(meta("s1"))
    store.close()
    with pytest.raises(StoreError, match=r"session store postgresql://.* is closed"):
        store.message_count("s1")
    assert _connections_become(dsn, 0) == 0


# --- damaged records ---------------------------------------------------------------------------


@pytest.fixture
def damaged(node: Callable[..., PostgresSessionStore], dsn: str) -> Iterator[PostgresSessionStore]:
    """Sessions ``good`` and ``bad`` (3 rows each); row 2 of ``bad`` is overwritten with bytes that are not msgpack."""
    store = node()
    store.create_session(meta("good", created_at="2025-01-01T00:00:00.000000Z"))
    store.create_session(meta("bad", created_at="2025-01-02T00:00:00.000000Z"))
    store.commit_turn("good", turn_rows("g"))
    store.commit_turn("bad", turn_rows("b"))
    _sql(dsn, "UPDATE mobkat.messages SET row = %s WHERE session_id = 'bad' AND seq = 2", b"\xc1 not msgpack")
    yield store


def test_a_corrupt_row_fails_only_its_session_and_names_the_row(damaged: PostgresSessionStore, dsn: str) -> None:
    assert damaged.history("good") == turn_rows("g")
    assert damaged.history("bad", limit=2) == turn_rows("b")[:2]
    with pytest.raises(CorruptRecordError) as failed:
        damaged.history("bad")
    assert failed.value.details["session_id"] == "bad" and failed.value.details["row_index"] == 2
    assert "mobkat.messages['bad', 2]" in failed.value.details["where"]
    assert damaged.commit_turn("bad", turn_rows("later", 1)).message_count == 4
    assert _sql(dsn, "SELECT row FROM mobkat.messages WHERE session_id = 'bad' AND seq = 2") == [(b"\xc1 not msgpack",)]


def test_a_corrupt_session_record_is_left_out_and_never_rewritten(
        damaged: PostgresSessionStore, dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    _sql(dsn, "UPDATE mobkat.sessions SET meta = %s WHERE id = 'bad'", b"\x92\x01")
    with caplog.at_level(logging.WARNING, logger="mobkat.store.postgres"):
        assert [m.session_id for m in damaged.list_sessions()] == ["good"]
    assert "leaving session bad out of the list" in caplog.text
    rows: list[HistoryRow] = turn_rows("x", 1)
    for attempt in (lambda: damaged.get_session("bad"), lambda: damaged.commit_turn("bad", rows),
                    lambda: damaged.update_session(meta("bad", instructions="overwrite"))):
        with pytest.raises(CorruptRecordError, match="session bad: its session record cannot be decoded"):
            attempt()
    assert _sql(dsn, "SELECT meta, turn_count FROM mobkat.sessions WHERE id = 'bad'") == [(b"\x92\x01", 1)]


# --- choosing it: mobkat rpc --realm-backend postgres --store-dsn DSN ----------------------------


def test_a_postgres_realm_keeps_its_sessions_in_its_own_schema(dsn: str, tmp_path: Path) -> None:
    realm = Realm.resolve(realm_id="team-b.2", isolated=False, state_root=tmp_path, backend="postgres", store_dsn=dsn)
    assert realm.database is None and realm.keeps_files  # the lock and mobs.db stay in the realm's directory
    assert dsn not in repr(realm)
    with realm.open_store() as store:
        assert isinstance(store, PostgresSessionStore) and store.schema == "mobkat_team-b.2"
        store.create_session(meta("s1"))
    again = Realm.resolve(realm_id="team-b.2", isolated=False, state_root=tmp_path / "elsewhere", backend="postgres",
                          store_dsn=dsn)
    with again.open_store() as store:  # another host's server on the same realm
        assert [m.session_id for m in store.list_sessions()] == ["s1"]


def test_the_postgres_backend_needs_a_dsn_and_only_it_takes_one() -> None:
    with pytest.raises(InvalidInputError, match="--realm-backend postgres needs the database"):
        ServerOptions(realm_backend="postgres").check()
    with pytest.raises(InvalidInputError, match="--store-dsn is for --realm-backend postgres, not sqlite"):
        ServerOptions(store_dsn="postgresql:///x").check()
    ServerOptions(realm_backend="postgres", store_dsn="postgresql:///x").check()


def test_mobkat_rpc_takes_the_dsn_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    monkeypatch.setenv(STORE_DSN_ENV, "postgresql:///from-env")
    assert options_from(parser.parse_args(["rpc", "--realm-backend", "postgres"])).store_dsn == "postgresql:///from-env"
    flagged = parser.parse_args(["rpc", "--realm-backend", "postgres", "--store-dsn", "postgresql:///from-flag"])
    assert options_from(flagged).store_dsn == "postgresql:///from-flag"
    assert options_from(parser.parse_args(["rpc"])).store_dsn is None  # the variable is for the postgres backend only
