"""The behavioural contract of ``SessionStore``, run against the in-memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_helpers import meta, turn_rows

from mobkat.errors import InvalidInputError, SessionNotFoundError, StoreError
from mobkat.history import HistoryRow, SystemRow, UserRow
from mobkat.store import CommittedTurn, SessionStore


def test_both_stores_satisfy_the_protocol(store: SessionStore) -> None:
    assert isinstance(store, SessionStore)


# --- sessions -------------------------------------------------------------------------------


def test_create_then_get_returns_the_same_metadata(store: SessionStore) -> None:
    created = meta("s1", instructions="be brief", labels={"team": "blue"}, metadata={"tools": ["echo"]})
    store.create_session(created)
    assert store.get_session("s1") == created
    assert store.get_session("missing") is None


def test_creating_an_existing_session_is_a_store_error(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    with pytest.raises(StoreError, match="already exists: 's1'"):
        store.create_session(meta("s1", instructions="other"))
    assert store.get_session("s1") == meta("s1")


def test_create_ignores_a_caller_supplied_turn_count(store: SessionStore) -> None:
    store.create_session(meta("s1", turn_count=7))
    got = store.get_session("s1")
    assert got is not None and got.turn_count == 0
    assert store.message_count("s1") == 0


def test_list_orders_by_created_at_then_id_and_hides_archived(store: SessionStore) -> None:
    store.create_session(meta("b", created_at="2025-01-02T00:00:00.000000Z"))
    store.create_session(meta("c", created_at="2025-01-01T00:00:00.000000Z"))
    store.create_session(meta("a", created_at="2025-01-02T00:00:00.000000Z"))
    assert [m.session_id for m in store.list_sessions()] == ["c", "a", "b"]
    store.archive_session("a")
    store.archive_session("a")  # idempotent
    assert [m.session_id for m in store.list_sessions()] == ["c", "b"]
    listed = store.list_sessions(include_archived=True)
    assert [(m.session_id, m.archived) for m in listed] == [("c", False), ("a", True), ("b", False)]


def test_update_replaces_caller_fields_and_keeps_store_owned_ones(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    store.commit_turn("s1", turn_rows("t0"))
    store.archive_session("s1")
    stale = meta("s1", instructions="new", labels={"k": "v"}, turn_count=0, archived=False,
                 created_at="1999-01-01T00:00:00.000000Z")
    store.update_session(stale)
    got = store.get_session("s1")
    assert got is not None
    assert (got.instructions, got.labels) == ("new", {"k": "v"})
    assert (got.turn_count, got.archived, got.created_at) == (1, True, "2025-01-01T00:00:00.000000Z")
    assert got.updated_at > "2025-01-01T00:00:00.000000Z"


def test_returned_metadata_is_a_private_copy(store: SessionStore) -> None:
    store.create_session(meta("s1", labels={"k": "v"}))
    got = store.get_session("s1")
    assert got is not None
    got.labels["k"] = "changed"
    again = store.get_session("s1")
    assert again is not None and again.labels == {"k": "v"}


# --- committing turns ------------------------------------------------------------------------


def test_commit_turn_appends_in_order_across_turns(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    first = store.commit_turn("s1", turn_rows("t0", 3))
    second = store.commit_turn("s1", turn_rows("t1", 2))
    assert first == CommittedTurn(session_id="s1", turn_index=0, message_count=3)
    assert second == CommittedTurn(session_id="s1", turn_index=1, message_count=5)
    assert store.history("s1") == turn_rows("t0", 3) + turn_rows("t1", 2)
    assert store.message_count("s1") == 5
    got = store.get_session("s1")
    assert got is not None and got.turn_count == 2


def test_commit_turn_writes_meta_in_the_same_commit(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    store.commit_turn("s1", turn_rows("t0"), meta=meta("s1", metadata={"voice": "marin"}, turn_count=99))
    got = store.get_session("s1")
    assert got is not None
    assert got.metadata == {"voice": "marin"}
    assert got.turn_count == 1


def test_sessions_have_separate_histories(store: SessionStore) -> None:
    store.create_session(meta("a"))
    store.create_session(meta("b"))
    store.commit_turn("a", turn_rows("a0"))
    done = store.commit_turn("b", turn_rows("b0", 1))
    assert done.turn_index == 0 and done.message_count == 1
    assert store.history("a") == turn_rows("a0")
    assert store.history("b") == turn_rows("b0", 1)


def test_history_paging_with_offset_and_limit(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    rows: list[HistoryRow] = [SystemRow(content=f"row {i}") for i in range(7)]
    store.commit_turn("s1", rows[:4])
    store.commit_turn("s1", rows[4:])
    assert store.history("s1", offset=2, limit=3) == rows[2:5]
    assert store.history("s1", offset=5) == rows[5:]
    assert store.history("s1", limit=0) == []
    assert store.history("s1", offset=7) == []
    assert store.history("s1", offset=100, limit=5) == []
    with pytest.raises(InvalidInputError, match="offset"):
        store.history("s1", offset=-1)
    with pytest.raises(InvalidInputError, match="limit"):
        store.history("s1", limit=-2)


def test_repeated_turn_id_is_a_no_op_returning_the_first_result(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    first = store.commit_turn("s1", turn_rows("t0"), turn_id="turn-A")
    store.commit_turn("s1", turn_rows("t1"), turn_id="turn-B")
    retried = store.commit_turn("s1", turn_rows("t0"), turn_id="turn-A", meta=meta("s1", instructions="x"))
    assert retried == first
    assert store.history("s1") == turn_rows("t0") + turn_rows("t1")
    got = store.get_session("s1")
    assert got is not None and (got.turn_count, got.instructions) == (2, "")


def test_turn_id_reused_for_other_rows_is_a_store_error(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    store.commit_turn("s1", turn_rows("t0"), turn_id="turn-A")
    with pytest.raises(StoreError, match=r"'turn-A'.*different rows"):
        store.commit_turn("s1", turn_rows("other"), turn_id="turn-A")
    assert store.message_count("s1") == 3


def test_turn_ids_are_scoped_per_session(store: SessionStore) -> None:
    store.create_session(meta("a"))
    store.create_session(meta("b"))
    store.commit_turn("a", turn_rows("x"), turn_id="same")
    done = store.commit_turn("b", turn_rows("x"), turn_id="same")
    assert done == CommittedTurn(session_id="b", turn_index=0, message_count=3)


def test_commit_to_archived_session_still_appends(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    store.archive_session("s1")
    store.commit_turn("s1", turn_rows("t0"))
    got = store.get_session("s1")
    assert got is not None and got.archived and got.turn_count == 1


# --- bad input -------------------------------------------------------------------------------


def test_unknown_session_errors_name_the_id(store: SessionStore) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.update_session(meta("ghost")),
        lambda: store.archive_session("ghost"),
        lambda: store.commit_turn("ghost", turn_rows("t0")),
        lambda: store.history("ghost"),
        lambda: store.message_count("ghost"),
    ]
    for call in calls:
        with pytest.raises(SessionNotFoundError, match="'ghost'") as err:
            call()
        assert err.value.details == {"session_id": "ghost"}


def test_invalid_commits_are_rejected_without_writing(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    with pytest.raises(InvalidInputError, match="at least one row"):
        store.commit_turn("s1", [])
    with pytest.raises(InvalidInputError, match=r"rows\[1\] is dict"):
        store.commit_turn("s1", [UserRow(content="hi"), {"role": "user", "content": "x"}])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="meta for session 'other'"):
        store.commit_turn("s1", turn_rows("t0"), meta=meta("other"))
    with pytest.raises(InvalidInputError, match="turn_id must not be empty"):
        store.commit_turn("s1", turn_rows("t0"), turn_id="")
    assert store.message_count("s1") == 0
    got = store.get_session("s1")
    assert got is not None and got.turn_count == 0


def test_closed_store_refuses_calls(store: SessionStore) -> None:
    store.create_session(meta("s1"))
    store.close()
    store.close()  # harmless
    with pytest.raises(StoreError, match="closed"):
        store.get_session("s1")
    with pytest.raises(StoreError, match="closed"):
        store.commit_turn("s1", turn_rows("t0"))


# --- concurrency -----------------------------------------------------------------------------


def _assert_turns_contiguous(rows: list[HistoryRow], rows_per_turn: int) -> list[str]:
    """Each turn's rows are adjacent and in order; returns the turn tags in history order."""
    tags: list[str] = []
    for start in range(0, len(rows), rows_per_turn):
        chunk = rows[start : start + rows_per_turn]
        tag = chunk[0].run_id
        assert tag is not None
        assert chunk == turn_rows(tag, rows_per_turn), f"turn {tag} is split or out of order at row {start}"
        tags.append(tag)
    return tags


def test_concurrent_commits_keep_each_turn_contiguous(store: SessionStore) -> None:
    threads_n, turns_each, rows_per_turn = 8, 20, 3
    store.create_session(meta("s1"))
    results: list[CommittedTurn] = []
    results_lock = threading.Lock()
    start = threading.Barrier(threads_n)

    def worker(w: int) -> None:
        start.wait(timeout=10)
        for k in range(turns_each):
            done = store.commit_turn("s1", turn_rows(f"w{w}-{k}", rows_per_turn), turn_id=f"w{w}-{k}")
            with results_lock:
                results.append(done)

    workers = [threading.Thread(target=worker, args=(w,)) for w in range(threads_n)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
        assert not t.is_alive()

    total = threads_n * turns_each
    assert sorted(r.turn_index for r in results) == list(range(total))
    assert all(r.message_count == (r.turn_index + 1) * rows_per_turn for r in results)
    tags = _assert_turns_contiguous(store.history("s1"), rows_per_turn)
    assert len(tags) == total
    for w in range(threads_n):  # each worker's turns appear in the order it committed them
        assert [t for t in tags if t.startswith(f"w{w}-")] == [f"w{w}-{k}" for k in range(turns_each)]
    got = store.get_session("s1")
    assert got is not None and got.turn_count == total


# --- model-based: any sequence of commits matches a plain list model --------------------------

_commit = st.tuples(
    st.integers(0, 2),  # session
    st.integers(1, 4),  # rows in the turn
    st.one_of(st.none(), st.sampled_from(["a", "b", "c"])),  # turn_id
    st.booleans(),  # retry the previous commit verbatim instead
)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(_commit, max_size=12))
def test_commit_sequences_match_a_list_model(new_store: Callable[[Path], SessionStore],
                                             ops: list[tuple[int, int, str | None, bool]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = new_store(Path(tmp))
        try:
            _run_against_model(store, ops)
        finally:
            store.close()


def _run_against_model(store: SessionStore, ops: list[tuple[int, int, str | None, bool]]) -> None:
    sessions = [f"s{i}" for i in range(3)]
    for sid in sessions:
        store.create_session(meta(sid))
    model: dict[str, list[HistoryRow]] = {sid: [] for sid in sessions}
    turns: dict[str, int] = dict.fromkeys(sessions, 0)
    by_turn_id: dict[tuple[str, str], tuple[CommittedTurn, list[HistoryRow]]] = {}
    previous: tuple[str, list[HistoryRow], str | None] | None = None
    for n, (s, count, turn_id, retry) in enumerate(ops):
        if retry and previous is not None:
            sid, rows, turn_id = previous
        else:
            sid, rows = sessions[s], turn_rows(f"op{n}", count)
        previous = (sid, rows, turn_id)
        known = by_turn_id.get((sid, turn_id)) if turn_id is not None else None
        if known is not None and known[1] != rows:
            with pytest.raises(StoreError):
                store.commit_turn(sid, rows, turn_id=turn_id)
            continue
        done = store.commit_turn(sid, rows, turn_id=turn_id)
        if known is not None:
            assert done == known[0]
            continue
        model[sid].extend(rows)
        expected = CommittedTurn(session_id=sid, turn_index=turns[sid], message_count=len(model[sid]))
        assert done == expected
        turns[sid] += 1
        if turn_id is not None:
            by_turn_id[(sid, turn_id)] = (done, rows)
    for sid in sessions:
        assert store.history(sid) == model[sid]
        assert store.message_count(sid) == len(model[sid])
        got = store.get_session(sid)
        assert got is not None and got.turn_count == turns[sid]
