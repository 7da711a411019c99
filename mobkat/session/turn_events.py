"""The agent events a request/response turn emits, built in upstream Meerkat's payload shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mobkat.history import HistoryRow, StopReason, Usage, row_text
from mobkat.wire.events import SessionEvent


def usage_wire(usage: Usage) -> dict[str, Any]:
    """Upstream's ``Usage``: token counts (no cache accounting here)."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cache_creation_tokens": None, "cache_read_tokens": None}


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def run_started(session_id: str, rows: Sequence[HistoryRow]) -> SessionEvent:
    prompt = "\n".join(row_text(row) for row in rows)
    return SessionEvent(type="run_started", session_id=session_id, input={"kind": "content", "content": prompt},
                        prompt=prompt)


def turn_started(turn_number: int) -> SessionEvent:
    return SessionEvent(type="turn_started", turn_number=turn_number)


def turn_completed(stop_reason: StopReason, usage: Usage) -> SessionEvent:
    return SessionEvent(type="turn_completed", stop_reason=stop_reason, usage=usage_wire(usage))


def tool_requested(call_id: str, name: str, args: dict[str, Any]) -> list[SessionEvent]:
    return [SessionEvent(type="tool_call_requested", id=call_id, name=name, args=args),
            SessionEvent(type="tool_execution_started", id=call_id, name=name)]


def tool_finished(call_id: str, name: str, content: str, is_error: bool, duration_ms: int,
                  timeout_s: float | None = None) -> list[SessionEvent]:
    """``tool_execution_completed`` (or ``tool_execution_timed_out``), then ``tool_result_received``."""
    blocks = text_blocks(content)
    ran = (SessionEvent(type="tool_execution_timed_out", id=call_id, name=name, timeout_ms=int(timeout_s * 1000))
           if timeout_s is not None else
           SessionEvent(type="tool_execution_completed", id=call_id, name=name, content=blocks, is_error=is_error,
                        duration_ms=duration_ms))
    return [ran, SessionEvent(type="tool_result_received", id=call_id, name=name, content=blocks, is_error=is_error)]


def run_completed(session_id: str, text: str, usage: Usage) -> SessionEvent:
    return SessionEvent(type="run_completed", session_id=session_id, result=text, usage=usage_wire(usage),
                        extraction_required=False)


def run_failed(session_id: str, exc: BaseException) -> SessionEvent:
    kind, message = type(exc).__name__, str(exc) or type(exc).__name__
    return SessionEvent(type="run_failed", session_id=session_id, error_report={"class": kind, "message": message},
                        error_class=kind, error=message)
