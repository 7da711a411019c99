"""History pages: every (offset, limit) window of sessions whose turns interleave in one store."""

from __future__ import annotations

from store_helpers import meta

from mobkat.history import HistoryRow, SystemRow
from mobkat.store import SessionStore


def test_every_page_of_interleaved_sessions_is_the_slice_of_its_history(store: SessionStore) -> None:
    rows: dict[str, list[HistoryRow]] = {"a": [], "b": []}
    for session_id in rows:
        store.create_session(meta(session_id))
    for turn in range(6):  # turns of a and b alternate, of different sizes: each session numbers its own rows
        for session_id, size in (("a", 1 + turn % 3), ("b", 2)):
            new = [SystemRow(content=f"{session_id} turn {turn} row {i}") for i in range(size)]
            store.commit_turn(session_id, new)
            rows[session_id] += new
    for session_id, everything in rows.items():
        assert store.message_count(session_id) == len(everything)
        for offset in range(len(everything) + 2):
            for limit in (None, 0, 1, 2, 5, len(everything)):
                end = None if limit is None else offset + limit
                assert store.history(session_id, offset=offset, limit=limit) == everything[offset:end]
