"""Live-channel wire shapes (Meerkat-compatible): input chunks, status, capabilities, observations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

TurningMode = Literal["provider_managed", "explicit_commit"]
ChannelStateName = Literal["idle", "opening", "ready", "degraded", "closing", "closed"]
ContinuityModeName = Literal["fresh", "transcript_only", "degraded", "provider_native_resume", "unknown"]
SAMPLE_RATE_HZ = 24000
CHANNELS = 1
WS_FORMAT = "pcm_24k_mono"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- input chunks (live/send_input params.chunk, and WebSocket text frames) -------------------------
class AudioChunk(_Wire):
    kind: Literal["audio"] = "audio"
    data: str
    sample_rate_hz: int = SAMPLE_RATE_HZ
    channels: int = CHANNELS


class TextChunk(_Wire):
    kind: Literal["text"] = "text"
    text: str


class ImageChunk(_Wire):
    kind: Literal["image"] = "image"
    idempotency_key: str
    mime: str
    data: str


class VideoFrameChunk(_Wire):
    kind: Literal["video_frame"] = "video_frame"
    codec: str
    data: str
    timestamp_ms: int


InputChunk = Annotated[AudioChunk | TextChunk | ImageChunk | VideoFrameChunk, Field(discriminator="kind")]
INPUT_CHUNK: TypeAdapter[InputChunk] = TypeAdapter(InputChunk)


# -- status, capabilities, continuity --------------------------------------------------------------
class DegradedReason(_Wire):
    kind: Literal["rate_limited", "provider_throttled", "network_unstable", "other"]
    detail: str | None = None


class ChannelStatus(_Wire):
    """Tagged on ``status``; ``reason`` only when degraded."""

    status: ChannelStateName
    reason: DegradedReason | None = None

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class LiveCapabilities(_Wire):
    audio_in: bool
    audio_out: bool
    text_in: bool
    text_out: bool
    image_in: bool
    video_in: bool
    transcript_supported: bool
    barge_in_supported: bool
    provider_native_resume: bool


class Continuity(_Wire):
    mode: ContinuityModeName
    seeded_messages: int = 0


class LiveTransport(_Wire):
    transport: Literal["websocket", "in_process"]
    url: str | None = None
    token: str | None = None


class LiveOpenResult(_Wire):
    channel_id: str
    transport: LiveTransport
    capabilities: LiveCapabilities
    continuity: Continuity
    turning_mode: TurningMode

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


# -- observations (server → client, tagged on ``observation``) -------------------------------------
class _Obs(_Wire):
    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Ready(_Obs):
    observation: Literal["ready"] = "ready"


class StatusChanged(_Obs):
    observation: Literal["status_changed"] = "status_changed"
    status: ChannelStatus


class UserTranscriptFinal(_Obs):
    observation: Literal["user_transcript_final"] = "user_transcript_final"
    text: str
    provider_item_id: str | None = None
    previous_item_id: str | None = None
    content_index: int | None = None


class AssistantTextDelta(_Obs):
    observation: Literal["assistant_text_delta"] = "assistant_text_delta"
    delta: str
    provider_item_id: str | None = None
    content_index: int | None = None
    response_id: str | None = None


class AssistantTranscriptDelta(_Obs):
    observation: Literal["assistant_transcript_delta"] = "assistant_transcript_delta"
    delta: str
    provider_item_id: str | None = None
    content_index: int | None = None
    response_id: str | None = None


class AssistantAudioChunk(_Obs):
    observation: Literal["assistant_audio_chunk"] = "assistant_audio_chunk"
    data: str
    sample_rate_hz: int = SAMPLE_RATE_HZ
    channels: int = CHANNELS
    response_id: str | None = None
    item_id: str | None = None
    content_index: int | None = None


class TurnUsage(_Wire):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class AssistantTranscriptFinal(_Obs):
    observation: Literal["assistant_transcript_final"] = "assistant_transcript_final"
    provider_item_id: str
    text: str
    stop_reason: str = "end_turn"
    usage: TurnUsage = Field(default_factory=TurnUsage)
    content_index: int | None = None
    response_id: str | None = None


class AssistantTranscriptTruncated(_Obs):
    observation: Literal["assistant_transcript_truncated"] = "assistant_transcript_truncated"
    provider_item_id: str | None = None
    text: str | None = None
    audio_end_ms: int | None = None
    response_id: str | None = None


class ToolCallRequested(_Obs):
    observation: Literal["tool_call_requested"] = "tool_call_requested"
    provider_call_id: str
    tool_name: str
    arguments: dict[str, Any]


class TurnInterrupted(_Obs):
    observation: Literal["turn_interrupted"] = "turn_interrupted"
    response_id: str | None = None


class TurnCompleted(_Obs):
    """Observed only after the turn is durably committed to the session history."""

    observation: Literal["turn_completed"] = "turn_completed"
    stop_reason: str
    usage: TurnUsage = Field(default_factory=TurnUsage)
    response_id: str | None = None
    committed_messages: int = 0


class ErrorCode(_Wire):
    code: Literal["connection_failed", "connection_lost", "config_rejected", "provider_error",
                  "authentication_failed", "internal_error", "other"]
    reason: dict[str, Any] | None = None
    raw: str | None = None


class CommandRejected(_Obs):
    """A scoped failure; the channel survives."""

    observation: Literal["command_rejected"] = "command_rejected"
    code: ErrorCode
    message: str


class LiveErrorObservation(_Obs):
    """Terminal: the channel closes after this."""

    observation: Literal["error"] = "error"
    code: ErrorCode
    message: str


Observation = Annotated[
    Ready | StatusChanged | UserTranscriptFinal | AssistantTextDelta | AssistantTranscriptDelta
    | AssistantAudioChunk | AssistantTranscriptFinal | AssistantTranscriptTruncated | ToolCallRequested
    | TurnInterrupted | TurnCompleted | CommandRejected | LiveErrorObservation,
    Field(discriminator="observation"),
]
OBSERVATION: TypeAdapter[Observation] = TypeAdapter(Observation)


def rejected(kind: str, message: str, **fields: Any) -> CommandRejected:
    """A ``command_rejected`` observation with a ``config_rejected`` reason."""
    return CommandRejected(code=ErrorCode(code="config_rejected", reason={"kind": kind, **fields}), message=message)
