"""Agent events on the wire, in upstream Meerkat's shapes (``meerkat-core/src/event.rs``).

A turn's progress is a sequence of :class:`SessionEvent` payloads (upstream's ``AgentEvent``, tagged by
``type``). On the wire each travels inside an :class:`EventEnvelope` (id, source, per-session ``seq``,
timestamp): ``session/event`` and ``session/stream_event`` carry the envelope; the mob-wide
``mob/stream_event`` carries an :class:`AttributedEvent` (the envelope plus the member that produced it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventType = Literal[
    "run_started",
    "turn_started",
    "text_delta",
    "text_complete",
    "tool_call_requested",
    "tool_execution_started",
    "tool_execution_completed",
    "tool_execution_timed_out",
    "tool_result_received",
    "turn_completed",
    "run_completed",
    "run_failed",
]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filter", "cancelled"]


class SessionEvent(BaseModel):
    """One agent event (upstream's ``AgentEvent`` payload); fields a type does not use stay ``None`` and are
    not sent.

    Per type (upstream field names): ``run_started`` {session_id, input, prompt}; ``turn_started``
    {turn_number}; ``text_delta`` {delta}; ``text_complete`` {content}; ``tool_call_requested`` {id, name,
    args}; ``tool_execution_started`` {id, name}; ``tool_execution_completed`` {id, name, content (blocks),
    is_error, duration_ms}; ``tool_execution_timed_out`` {id, name, timeout_ms}; ``tool_result_received``
    {id, name, content, is_error}; ``turn_completed`` {stop_reason, usage?}; ``run_completed`` {session_id,
    result, usage, extraction_required}; ``run_failed`` {session_id, error_report, error_class, error}.
    (``prompt`` and ``error_class``/``error`` are what the upstream Python SDK validates beside upstream's
    ``input`` / ``error_report``.)"""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: EventType
    session_id: str | None = None
    input: dict[str, Any] | None = None
    prompt: str | None = None
    turn_number: int | None = None
    delta: str | None = None
    content: str | list[dict[str, Any]] | None = None
    id: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    is_error: bool | None = None
    duration_ms: int | None = None
    timeout_ms: int | None = None
    stop_reason: StopReason | None = None
    usage: dict[str, Any] | None = None
    result: str | None = None
    extraction_required: bool | None = None
    error_report: dict[str, Any] | None = None
    error_class: str | None = None
    error: str | None = None

    @property
    def text(self) -> str | None:
        """The text this event carries: ``text_complete``'s content, ``run_completed``'s result, a delta."""
        if isinstance(self.content, str):
            return self.content
        return self.result if self.result is not None else self.delta

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class EventSource(BaseModel):
    """Who produced an event: ``{"type": "session", "session_id": <uuid>}`` for a session's turns."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["session", "runtime", "interaction", "callback", "external"]
    session_id: str | None = None
    runtime_id: str | None = None
    interaction_id: str | None = None
    source_id: str | None = None


class EventEnvelope(BaseModel):
    """Upstream's ``EventEnvelope``: ``seq`` counts a session's events from 1, across its turns."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str
    source: EventSource
    seq: int = Field(ge=0)
    timestamp_ms: int = Field(ge=0)
    payload: SessionEvent
    mob_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class AgentRuntimeId(BaseModel):
    """A mob member's incarnation: its identity and generation (0 first, +1 per respawn or restart)."""

    model_config = ConfigDict(frozen=True)

    identity: str = Field(min_length=1)
    generation: int = Field(ge=0)


class AttributedEvent(BaseModel):
    """An agent event of a mob member, as the mob-wide ``mob/stream_event`` carries it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: AgentRuntimeId
    source_fence_token: int | None = None
    role: str
    envelope: EventEnvelope

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class SessionStreamOpenResult(BaseModel):
    """``session/stream_open``'s answer."""

    stream_id: str
    session_id: str
    opened: bool


class StreamEventNotice(BaseModel):
    """Params of ``session/stream_event`` (with ``session_id``) and of the agent-event ``mob/stream_event``."""

    stream_id: str
    sequence: int
    session_id: str | None = None
    event: dict[str, Any]


StreamOutcome = Literal["remote_end", "terminal_error", "explicit_close"]


class StreamEndNotice(BaseModel):
    """Params of ``session/stream_end`` / ``mob/stream_end`` for agent-event streams."""

    stream_id: str
    session_id: str | None = None
    ended: bool = True
    outcome: StreamOutcome
    error: dict[str, str] | None = None
