"""A session's committed history in memory: read from the store once, appended on every commit.

Rows are decoded and validated once (when loaded, or when committed); each row's provider forms
(Chat Completions messages, Realtime seed items) are projected once, when first needed, and kept.
So a turn costs what its request costs to serialize, not what the history costs to rebuild.

Thread safety: one lock guards the rows and the caches. Writers are serialized by the session
(``Session.commit``); readers on any thread get a consistent snapshot (a prefix of the history as
of one commit). Rows are shared, not copied: they are frozen models, and nobody may mutate the
dicts inside them (``AssistantBlock.data``, ``SystemNoticeRow.blocks``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from mobkat.history import HistoryRow, row_from_wire, row_to_wire
from mobkat.providers.chat import row_to_chat_messages
from mobkat.providers.realtime_items import RealtimeSeed, SeedEntry, build_seed, row_seed_entries
from mobkat.store.base import check_page


def stored_form(row: HistoryRow) -> HistoryRow:
    """The row as a store hands it back (its wire dict, validated): a private copy equal to what a reload reads."""
    return row_from_wire(row_to_wire(row))


class HistoryLog:
    """Committed rows, in order, with their provider projections cached. Append-only."""

    def __init__(self, rows: Iterable[HistoryRow] = ()) -> None:
        self._lock = threading.Lock()
        self._rows: list[HistoryRow] = list(rows)
        self._chat: list[dict[str, Any]] = []  # Chat Completions messages of rows[:_chat_rows], flattened
        self._chat_rows = 0
        self._seed: list[tuple[SeedEntry, ...] | None] = []  # per row, filled as seeds reach back

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def rows(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Rows ``offset`` .. ``offset + limit`` (all from ``offset`` when ``limit`` is None); O(rows returned)."""
        check_page(offset, limit)
        with self._lock:
            end = len(self._rows) if limit is None else min(len(self._rows), offset + limit)
            return self._rows[offset:end]

    def append(self, rows: Sequence[HistoryRow]) -> None:
        """Add committed rows (the session's commit path only)."""
        with self._lock:
            self._rows.extend(rows)

    def chat_messages(self, head: Sequence[dict[str, Any]] = (),
                      tail: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """``head`` + the Chat Completions messages of every committed row + ``tail``, as one new list.

        Only rows committed since the last call are projected; the rest is a list copy.
        """
        with self._lock:
            for row in self._rows[self._chat_rows:]:
                self._chat += row_to_chat_messages(row)
            self._chat_rows = len(self._rows)
            return [*head, *self._chat, *tail]

    def realtime_seed(self, max_chars: int | None, tail: Sequence[HistoryRow] = ()) -> RealtimeSeed:
        """The Realtime seed of the committed history under the window ``max_chars`` (None: all), then ``tail``."""
        with self._lock:
            rows, cache = self._rows, self._seed
            if len(cache) < len(rows):
                cache.extend([None] * (len(rows) - len(cache)))

            def entries(index: int) -> tuple[SeedEntry, ...]:
                cached = cache[index]
                if cached is None:
                    cached = cache[index] = row_seed_entries(rows[index])
                return cached

            return build_seed(rows, max_chars, entries_of=entries, tail=tail)
