"""A session's committed history in memory: read from the store once, appended on every commit.

Rows are decoded and validated once (when loaded, or when committed); each row's provider forms
(the JSON of its Chat Completions messages, its Realtime seed items) are built once, when first
needed, and kept. So a turn costs a copy of the history's JSON plus the encoding of its new rows,
not what the history costs to rebuild or re-serialize.

Thread safety: one lock guards the rows and the caches. Writers are serialized by the session
(``Session.commit``); readers on any thread get a consistent snapshot (a prefix of the history as
of one commit). Rows are shared, not copied: they are frozen models, and nobody may mutate the
dicts inside them (``AssistantBlock.data``, ``SystemNoticeRow.blocks``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mobkat.history import HistoryRow, row_from_wire, row_to_wire
from mobkat.providers.chat import messages_json, row_to_chat_messages
from mobkat.providers.realtime_items import RealtimeSeed, SeedEntry, build_seed, row_seed_entries
from mobkat.store.base import check_page


def stored_form(row: HistoryRow) -> HistoryRow:
    """The row as a store hands it back (its wire dict, validated): a private copy equal to what a reload reads."""
    return row_from_wire(row_to_wire(row))


class HistoryLog:
    """Committed rows, in order, with their provider projections cached. Append-only.

    ``loader`` (instead of ``rows``) defers the read: it runs once, under the lock, on the first access
    or :meth:`load` — on whichever thread comes first (a restarted mob member loads on its own thread).
    """

    def __init__(self, rows: Iterable[HistoryRow] = (), *,
                 loader: Callable[[], Iterable[HistoryRow]] | None = None) -> None:
        self._lock = threading.Lock()
        self._loader = loader
        self._loaded_rows: list[HistoryRow] = list(rows)
        self._chat_json = bytearray()  # the JSON of the Chat Completions messages of rows[:_json_rows], joined
        self._json_rows = 0
        self._seed: list[tuple[SeedEntry, ...] | None] = []  # per row, filled as seeds reach back

    @property
    def _rows(self) -> list[HistoryRow]:
        """The rows, read through the loader first if it has not run (call with the lock held)."""
        if self._loader is not None:
            loader, self._loader = self._loader, None
            try:
                self._loaded_rows = list(loader())
            except BaseException:
                self._loader = loader  # not loaded: the next access tries again
                raise
        return self._loaded_rows

    @property
    def loaded(self) -> bool:
        """False while a deferred read has not run yet."""
        return self._loader is None

    def load(self) -> None:
        """Run a deferred read now (a no-op once loaded)."""
        with self._lock:
            self._rows  # noqa: B018 - the property loads

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

        Projected on each call (O(history)): for inspection. Model calls send :meth:`chat_json`.
        """
        with self._lock:
            rows = self._rows
        messages = list(head)
        for row in rows:
            messages += row_to_chat_messages(row)
        messages += tail
        return messages

    def chat_json(self, head: bytes = b"", tail: bytes = b"") -> bytes:
        """The inside of a request's ``messages`` array: ``head``, every committed row's messages, ``tail``
        (each a :func:`~mobkat.providers.chat.messages_json` piece; empty pieces are skipped).

        Each row's messages are encoded once, when first sent, and kept; a call encodes only rows
        committed since the last one and copies the rest (a ``bytes`` join: no per-row work)."""
        with self._lock:
            rows, cache = self._rows, self._chat_json
            if self._json_rows < len(rows):
                fresh = messages_json([m for row in rows[self._json_rows:] for m in row_to_chat_messages(row)])
                if fresh:
                    cache += b"," + fresh if cache else fresh
                self._json_rows = len(rows)
            return b",".join(piece for piece in (head, cache, tail) if piece)

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
