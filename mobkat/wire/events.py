"""Turn progress events (pushed as ``session/event`` notifications by the RPC server)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

EventType = Literal[
    "run_started",
    "turn_started",
    "text_delta",
    "text_complete",
    "tool_call_requested",
    "tool_result_received",
    "turn_completed",
    "run_completed",
    "run_failed",
]


class SessionEvent(BaseModel):
    """One progress event of a turn; fields not relevant to a type stay ``None`` and are not sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType
    delta: str | None = None
    text: str | None = None
    tool_name: str | None = None
    call_id: str | None = None
    arguments: dict[str, Any] | None = None
    is_error: bool | None = None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
