"""Params and results of the session, config and live RPC methods (Meerkat wire shapes).

Shared by the server (:mod:`mobkat.rpc`) and the client SDK (:mod:`mobkat.client`); imports only pydantic,
:mod:`mobkat.history` and :mod:`mobkat.live.wire`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mobkat.contract import ContractVersion
from mobkat.history import HistoryRow, TextContent
from mobkat.live.wire import ChannelStatus, TurningMode

MAX_HISTORY_OFFSET = 1_000_000
MAX_HISTORY_LIMIT = 1000
DEFAULT_HISTORY_LIMIT = 100

# Upstream create/turn fields that change nothing here, so they are accepted and ignored.
TOLERATED_FIELDS = frozenset({"max_tokens", "keep_alive", "structured_output_retries", "app_context",
                              "peer_meta", "comms_name", "provider_params"})


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoParams(BaseModel):
    """Methods without params accept ``{}`` (and ignore extra keys such as client info)."""

    model_config = ConfigDict(extra="ignore")


class SystemPromptDisable(_Params):
    action: Literal["disable"]


Prompt = str | list[TextContent]


def check_prompt(value: Any) -> Any:
    """Refuse non-text prompt blocks (mobkat sessions take text content only)."""
    if isinstance(value, list):
        for i, block in enumerate(value):
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            if kind != "text":
                raise ValueError(f"prompt[{i}] is a {kind!r} block; mobkat sessions take text content only")
    return value


class _TurnFields(BaseModel):
    """Fields shared by ``session/create`` and ``turn/start``; unsupported upstream fields are refused."""

    model_config = ConfigDict(extra="allow")

    prompt: Prompt
    model: str | None = Field(default=None, min_length=1)
    provider: str | None = None
    system_prompt: str | SystemPromptDisable | None = None
    additional_instructions: list[str] | None = None

    _check = field_validator("prompt", mode="before")(check_prompt)

    @model_validator(mode="after")
    def _refuse_unsupported(self) -> _TurnFields:
        for key, value in (self.model_extra or {}).items():
            if key not in TOLERATED_FIELDS and value not in (None, False, [], {}):
                raise ValueError(f"{key} is not supported by mobkat sessions; leave it out")
        return self

    def instructions(self) -> str | None:
        """The system instructions these params ask for (``None``: keep what the session has)."""
        parts: list[str] = []
        if isinstance(self.system_prompt, str):
            parts.append(self.system_prompt)
        parts += self.additional_instructions or []
        if not parts and self.system_prompt is None:
            return None
        return "\n\n".join(p for p in parts if p)


class CreateSessionParams(_TurnFields):
    labels: dict[str, str] | None = None
    initial_turn: Literal["run_immediately", "deferred", "immediate"] | None = None
    """Upstream's ``run_immediately`` (the default) or ``deferred``; ``immediate`` is mobkat's older spelling."""


class TurnStartParams(_TurnFields):
    session_id: str = Field(min_length=1)


class SessionIdParams(_Params):
    session_id: str = Field(min_length=1)


class SessionListParams(_Params):
    labels: dict[str, str] | None = None
    limit: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)
    include_archived: bool = False


class SessionHistoryParams(_Params):
    session_id: str = Field(min_length=1)
    offset: int = Field(default=0, ge=0, le=MAX_HISTORY_OFFSET)
    limit: int | None = Field(default=None, ge=0, le=MAX_HISTORY_LIMIT)


class ModelsCatalogParams(NoParams):
    provider: str | None = None


# -- results ----------------------------------------------------------------------------------
class ServerInfo(BaseModel):
    name: str
    version: str


class InitializeResult(BaseModel):
    server_info: ServerInfo
    contract_version: str
    methods: list[str]
    realm_id: str | None = None


class CapabilityEntry(BaseModel):
    id: str
    description: str
    status: str | dict[str, Any]
    """``"Available"`` or a one-key object such as ``{"DisabledByPolicy": {"description": ...}}``."""

    @property
    def available(self) -> bool:
        return self.status == "Available"


class CapabilitiesResult(BaseModel):
    contract_version: ContractVersion
    capabilities: list[CapabilityEntry]


class RunUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int = 0
    cache_creation_tokens: int | None = None
    cache_read_tokens: int | None = None


class RunResult(BaseModel):
    """Meerkat ``WireRunResult``: the outcome of a committed turn."""

    session_id: str
    text: str
    turns: int
    tool_calls: int
    usage: RunUsage
    structured_output: Any = None
    schema_warnings: list[dict[str, Any]] | None = None


class DeferredCreateResult(BaseModel):
    """``session/create`` with ``initial_turn: "deferred"``: an idle session, no turn run."""

    session_id: str
    session_ref: str | None = None


class SessionSummary(BaseModel):
    session_id: str
    created_at: int
    updated_at: int
    message_count: int
    total_tokens: int
    labels: dict[str, str] = Field(default_factory=dict)
    is_active: bool
    archived: bool = False


class SessionListResult(BaseModel):
    sessions: list[SessionSummary]


class ResolvedCapabilities(BaseModel):
    vision: bool
    image_input: bool
    image_tool_results: bool
    inline_video: bool
    realtime: bool
    web_search: bool
    image_generation: bool


class SessionInfo(BaseModel):
    """``session/read``: created/updated are Unix seconds; ``is_active``: loaded in this server."""

    session_id: str
    created_at: int
    updated_at: int
    message_count: int
    labels: dict[str, str] = Field(default_factory=dict)
    is_active: bool
    model: str
    provider: str
    last_assistant_text: str | None = None
    resolved_capabilities: ResolvedCapabilities | None = None
    archived: bool = False
    idle: bool = False
    turn_count: int = 0
    live_channel_id: str | None = None


class SessionHistory(BaseModel):
    """``session/history``: committed rows, oldest first."""

    session_id: str
    message_count: int
    offset: int
    limit: int | None
    has_more: bool
    messages: list[HistoryRow]


class ArchiveResult(BaseModel):
    session_id: str
    archived: bool


class ConfigResult(BaseModel):
    """``config/get``: the merged config, where each set key came from, and where state lives."""

    config: dict[str, Any]
    generation: int
    backend: str
    realm_id: str
    instance_id: str | None = None
    resolved_paths: dict[str, str | None]
    sources: dict[str, str]
    written: dict[str, str] | None = None
    """``config/set|patch`` only: ``{scope, file}`` of the file written."""


class SessionEventParams(BaseModel):
    """Params of the ``session/event`` notification."""

    session_id: str
    event: dict[str, Any]


# -- live ---------------------------------------------------------------------------------------
class LiveOpenParams(_Params):
    session_id: str = Field(min_length=1)
    turning_mode: TurningMode | None = None
    transport: Literal["websocket", "webrtc"] | None = None
    seed_max_chars: int | None = None
    voice: str | None = Field(default=None, min_length=1)


class ChannelParams(_Params):
    channel_id: str


class LiveSendInputParams(_Params):
    channel_id: str
    chunk: dict[str, Any]


class ResponseModality(_Params):
    modality: Literal["audio", "text"]


class LiveCommitParams(_Params):
    channel_id: str
    response_modality: ResponseModality | Literal["audio", "text"] | None = None

    def modality(self) -> str | None:
        value = self.response_modality
        return value.modality if isinstance(value, ResponseModality) else value


class LiveTruncateParams(_Params):
    channel_id: str
    item_id: str = Field(min_length=1)
    content_index: int = Field(ge=0)
    audio_played_ms: int = Field(ge=0)


LiveAckStatus = Literal["sent", "committed", "interrupted", "truncated", "queued", "closed"]


class LiveAck(BaseModel):
    status: LiveAckStatus


class LiveStatusResult(BaseModel):
    channel_id: str
    status: ChannelStatus
