"""Canonical history projected into OpenAI Realtime conversation items (for seeding a provider session).

A seed is the whole history, or, under a **seed window** (``max_chars``), the most recent whole
exchanges whose text fits in that many characters, after a system item saying how many older rows
were left out. Each row's items (and their id hashes) can be cached by the caller: building a seed
then costs what the window holds, not what the history holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mobkat.errors import InvalidInputError
from mobkat.history import (
    BlockAssistantRow,
    HistoryRow,
    SystemNoticeRow,
    SystemRow,
    UserRow,
)
from mobkat.providers.chat import notice_text

SEED_PREFIX = "mk_seed_"
DEFAULT_SEED_MAX_CHARS = 50_000  # ~12k tokens: the default seed window of live channels and realtime turns


class SeedEntry(NamedTuple):
    """One projected item (without its id), the hash its seed id carries, and the characters of text in it."""

    item: dict[str, Any]
    digest: str
    chars: int


@dataclass(frozen=True)
class RealtimeSeed:
    """Items to ``conversation.item.create`` in order, and how much of the history they carry."""

    items: list[dict[str, Any]]
    seeded_rows: int  # committed rows projected into the seed
    omitted_rows: int  # older committed rows the window left out (0: the whole history is in)


def seed_item_id(index: int, payload: str) -> str:
    """Stable id of a seeded item: ``mk_seed_{index:04}_{sha256[:12]}`` (fits the 32-char limit)."""
    return f"{SEED_PREFIX}{index:04}_{_digest(payload)}"


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _message(role: str, kind: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def _entry(item: dict[str, Any], chars: int) -> SeedEntry:
    return SeedEntry(item, _digest(json.dumps(item, sort_keys=True)), chars)


def row_seed_entries(row: HistoryRow) -> tuple[SeedEntry, ...]:
    """The realtime items one row becomes (an assistant row: its text, then one item per tool call)."""
    if isinstance(row, UserRow):
        text = row.text
        return (_entry(_message("user", "input_text", text), len(text)),)
    if isinstance(row, SystemRow):
        return (_entry(_message("system", "input_text", row.content), len(row.content)),)
    if isinstance(row, SystemNoticeRow):
        text = notice_text(row)
        return (_entry(_message("user", "input_text", text), len(text)),)
    entries: list[SeedEntry] = []
    if isinstance(row, BlockAssistantRow):
        if row.text:
            entries.append(_entry(_message("assistant", "output_text", row.text), len(row.text)))
        for block in row.tool_uses:
            arguments = json.dumps(block.data["args"])
            entries.append(_entry({"type": "function_call", "call_id": block.data["id"], "name": block.data["name"],
                                   "arguments": arguments}, len(block.data["name"]) + len(arguments)))
        return tuple(entries)
    return tuple(_entry({"type": "function_call_output", "call_id": result.tool_use_id, "output": result.content},
                        len(result.content)) for result in row.results)


def _opens_exchange(rows: Sequence[HistoryRow], index: int) -> bool:
    """True for the first input row (user, system, notice) after a model reply or tool result, or at the start."""
    inputs = (UserRow, SystemRow, SystemNoticeRow)
    return isinstance(rows[index], inputs) and (index == 0 or not isinstance(rows[index - 1], inputs))


def check_seed_window(max_chars: int | None) -> None:
    """A window must be positive (``None``: no window, the whole history)."""
    if max_chars is not None and max_chars <= 0:
        raise InvalidInputError(f"live seed window must be greater than zero, got seed_max_chars={max_chars}",
                                details={"seed_max_chars": max_chars})


def window_start(rows: Sequence[HistoryRow], chars_of: Callable[[int], int], max_chars: int | None) -> int:
    """Index of the first row a seed of at most ``max_chars`` characters keeps: the start of the oldest exchange
    that still fits whole, walking back from the newest row (``len(rows)`` when not even the newest fits)."""
    check_seed_window(max_chars)
    if max_chars is None:
        return 0
    total, start = 0, len(rows)
    for index in range(len(rows) - 1, -1, -1):
        total += chars_of(index)
        if total > max_chars:
            return start
        if _opens_exchange(rows, index):
            start = index
    return 0


def omitted_notice(omitted_rows: int, max_chars: int) -> dict[str, Any]:
    """The system item that opens a windowed seed."""
    return _message("system", "input_text",
                    f"[mobkat] {omitted_rows} earlier history rows are left out of this conversation: it was seeded "
                    f"with only the most recent exchanges that fit in {max_chars} characters.")


def build_seed(rows: Sequence[HistoryRow], max_chars: int | None, *,
               entries_of: Callable[[int], tuple[SeedEntry, ...]] | None = None,
               tail: Sequence[HistoryRow] = ()) -> RealtimeSeed:
    """The seed of ``rows`` under the window ``max_chars`` (``None``: all of them), then every ``tail`` row.

    ``entries_of(i)`` gives row ``i``'s items (a cache); by default they are projected here. ``tail`` rows (a
    turn's staged rows) are always sent and do not count against the window.
    """
    entries = entries_of if entries_of is not None else (lambda i: row_seed_entries(rows[i]))
    start = window_start(rows, lambda i: sum(entry.chars for entry in entries(i)), max_chars)
    chosen: list[SeedEntry] = []
    if start and max_chars is not None:
        notice = omitted_notice(start, max_chars)
        chosen.append(_entry(notice, 0))
    for index in range(start, len(rows)):
        chosen += entries(index)
    for row in tail:
        chosen += row_seed_entries(row)
    items = [{**entry.item, "id": f"{SEED_PREFIX}{i:04}_{entry.digest}"} for i, entry in enumerate(chosen)]
    return RealtimeSeed(items=items, seeded_rows=len(rows) - start, omitted_rows=start)


def history_to_realtime_items(rows: Sequence[HistoryRow]) -> list[dict[str, Any]]:
    """Items of the whole history, in order; each gets a stable seed id."""
    return build_seed(rows, None).items


def seed_event(item: dict[str, Any]) -> str:
    """The wire text of the ``conversation.item.create`` that sends one seed item (no SDK transform)."""
    return json.dumps({"type": "conversation.item.create", "item": item})
