"""Canonical history rows, in the Meerkat wire shapes (``session/history`` rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "content_filter", "cancelled"]
NoticeKind = Literal[
    "generic",
    "comms",
    "external_event",
    "mcp_pending",
    "mcp",
    "background_job",
    "tool_scope",
    "tool_scope_warning",
    "auth_reauth_required",
]
BlockType = Literal["text", "transcript", "reasoning", "tool_use", "server_tool_content", "image", "unknown"]


def utc_now() -> str:
    """An RFC 3339 UTC timestamp with microseconds, as rows carry in ``created_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    created_at: str = Field(default_factory=utc_now)
    interaction_id: str | None = Field(default=None, min_length=1)
    run_id: str | None = Field(default=None, min_length=1)


class TextContent(BaseModel):
    """A user content block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["text"] = "text"
    text: str


class UserRow(_Row):
    role: Literal["user"] = "user"
    content: str | list[TextContent]
    transcript_role: Literal["conversational", "compaction_summary", "injected_context"] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(block.text for block in self.content)


class AssistantBlock(BaseModel):
    """One block of an assistant row: ``{"block_type": ..., "data": {...}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_type: BlockType
    data: dict[str, Any]

    @classmethod
    def text(cls, text: str) -> AssistantBlock:
        return cls(block_type="text", data={"text": text})

    @classmethod
    def transcript(cls, text: str) -> AssistantBlock:
        """Spoken output of a live turn, kept apart from display text."""
        return cls(block_type="transcript", data={"text": text, "source": {"kind": "spoken"}})

    @classmethod
    def tool_use(cls, call_id: str, name: str, args: dict[str, Any]) -> AssistantBlock:
        return cls(block_type="tool_use", data={"id": call_id, "name": name, "args": args})


class Usage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class BlockAssistantRow(_Row):
    role: Literal["block_assistant"] = "block_assistant"
    blocks: list[AssistantBlock]
    stop_reason: StopReason = "end_turn"
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """Display text, or the spoken transcript when there is no display text."""
        texts = [b.data["text"] for b in self.blocks if b.block_type == "text"]
        if not texts:
            texts = [b.data["text"] for b in self.blocks if b.block_type == "transcript"]
        return "".join(texts)

    @property
    def tool_uses(self) -> list[AssistantBlock]:
        return [b for b in self.blocks if b.block_type == "tool_use"]


class ToolResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tool_use_id: str
    content: str
    is_error: bool = False


class ToolResultsRow(_Row):
    role: Literal["tool_results"] = "tool_results"
    results: list[ToolResult]


class SystemRow(_Row):
    role: Literal["system"] = "system"
    content: str


class SystemNoticeRow(_Row):
    """A typed notice (peer messages, lifecycle). ``blocks`` carries e.g. the ``comms`` block."""

    role: Literal["system_notice"] = "system_notice"
    kind: NoticeKind = "generic"
    body: str | None = None
    blocks: list[dict[str, Any]] | None = None


HistoryRow = Annotated[
    UserRow | BlockAssistantRow | ToolResultsRow | SystemRow | SystemNoticeRow,
    Field(discriminator="role"),
]
ROW_ADAPTER: TypeAdapter[HistoryRow] = TypeAdapter(HistoryRow)
ROWS_ADAPTER: TypeAdapter[list[HistoryRow]] = TypeAdapter(list[HistoryRow])


def row_to_wire(row: HistoryRow) -> dict[str, Any]:
    """The JSON-ready wire dict of a row (``None`` fields omitted)."""
    return row.model_dump(mode="json", exclude_none=True)


def row_from_wire(data: dict[str, Any]) -> HistoryRow:
    """Parse and validate one wire dict into its row type."""
    return ROW_ADAPTER.validate_python(data)


def row_text(row: HistoryRow) -> str:
    """The plain text a row carries (what a model or a transcript view shows)."""
    if isinstance(row, UserRow | BlockAssistantRow):
        return row.text
    if isinstance(row, SystemRow):
        return row.content
    if isinstance(row, SystemNoticeRow):
        return row.body or ""
    return "\n".join(result.content for result in row.results)
