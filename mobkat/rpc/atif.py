"""A session's committed history as an ATIF trajectory (Agent Trajectory Interchange Format, v1.4).

One step per user, system and assistant row; an assistant row's tool calls are the step's ``tool_calls`` and
the tool-results row that answers them is that step's ``observation``. Token counts come from the
assistant rows' usage (``final_metrics`` sums them).
"""

from __future__ import annotations

from typing import Any

import mobkat
from mobkat.history import BlockAssistantRow, HistoryRow, SystemNoticeRow, SystemRow, ToolResultsRow, UserRow
from mobkat.store import SessionMeta

SCHEMA_VERSION = "ATIF-v1.4"


def _agent_step(row: BlockAssistantRow, model: str) -> dict[str, Any]:
    step: dict[str, Any] = {"source": "agent", "message": row.text, "model_name": model}
    calls = [{"tool_call_id": b.data["id"], "function_name": b.data["name"], "arguments": b.data.get("args", {})}
             for b in row.tool_uses]
    if calls:
        step["tool_calls"] = calls
    if row.usage is not None:
        step["metrics"] = {"prompt_tokens": row.usage.input_tokens, "completion_tokens": row.usage.output_tokens}
    return step


def _observation(row: ToolResultsRow) -> dict[str, Any]:
    return {"results": [{"source_call_id": r.tool_use_id, "content": r.content} for r in row.results]}


def trajectory(meta: SessionMeta, rows: list[HistoryRow], *, agent_name: str | None = None,
               agent_version: str | None = None, model_name: str | None = None) -> dict[str, Any]:
    """The ATIF document of ``rows`` (a session's committed history, in order)."""
    model = model_name or meta.model
    steps: list[dict[str, Any]] = []
    for row in rows:
        step: dict[str, Any]
        if isinstance(row, ToolResultsRow):
            last = steps[-1] if steps else None
            if last is not None and last["source"] == "agent" and "observation" not in last:
                last["observation"] = _observation(row)
                continue
            step = {"source": "system", "message": "", "observation": _observation(row)}
        elif isinstance(row, BlockAssistantRow):
            step = _agent_step(row, model)
        elif isinstance(row, UserRow):
            step = {"source": "user", "message": row.text}
        elif isinstance(row, SystemRow):
            step = {"source": "system", "message": row.content}
        elif isinstance(row, SystemNoticeRow):
            step = {"source": "system", "message": row.body or "", "extra": {"notice_kind": row.kind}}
        else:  # pragma: no cover - HistoryRow is closed
            continue
        steps.append({"step_id": len(steps) + 1, "timestamp": row.created_at, **step})
    prompt = sum(s.get("metrics", {}).get("prompt_tokens", 0) for s in steps)
    completion = sum(s.get("metrics", {}).get("completion_tokens", 0) for s in steps)
    return {
        "schema_version": SCHEMA_VERSION,
        "session_id": meta.session_id,
        "agent": {"name": agent_name or "mobkat", "version": agent_version or mobkat.__version__,
                  "model_name": model},
        "steps": steps,
        "final_metrics": {"total_prompt_tokens": prompt, "total_completion_tokens": completion,
                          "total_steps": len(steps)},
    }
