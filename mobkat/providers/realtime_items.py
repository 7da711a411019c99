"""Canonical history projected into OpenAI Realtime conversation items (for seeding a provider session)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from mobkat.history import (
    BlockAssistantRow,
    HistoryRow,
    SystemNoticeRow,
    SystemRow,
    ToolResultsRow,
    UserRow,
)
from mobkat.providers.chat import notice_text

SEED_PREFIX = "mk_seed_"


def seed_item_id(index: int, payload: str) -> str:
    """Stable id of a seeded item: ``mk_seed_{index:04}_{sha256[:12]}`` (fits the 32-char limit)."""
    return f"{SEED_PREFIX}{index:04}_{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def _message(role: str, kind: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": kind, "text": text}]}


def history_to_realtime_items(rows: Sequence[HistoryRow]) -> list[dict[str, Any]]:
    """Items to ``conversation.item.create`` in order; each gets a stable seed id."""
    items: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, UserRow):
            items.append(_message("user", "input_text", row.text))
        elif isinstance(row, SystemRow):
            items.append(_message("system", "input_text", row.content))
        elif isinstance(row, SystemNoticeRow):
            items.append(_message("user", "input_text", notice_text(row)))
        elif isinstance(row, BlockAssistantRow):
            if row.text:
                items.append(_message("assistant", "output_text", row.text))
            for block in row.tool_uses:
                items.append({"type": "function_call", "call_id": block.data["id"], "name": block.data["name"],
                              "arguments": json.dumps(block.data["args"])})
        elif isinstance(row, ToolResultsRow):
            for result in row.results:
                items.append({"type": "function_call_output", "call_id": result.tool_use_id,
                              "output": result.content})
    for index, item in enumerate(items):
        item["id"] = seed_item_id(index, json.dumps(item, sort_keys=True))
    return items
