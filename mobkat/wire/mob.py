"""Params and results of the ``mob/*`` methods (Meerkat wire shapes), shared by the server and the client SDK.

Params reject unknown fields. Upstream spawn fields that mobkat does not implement (``backend``,
``context``, ...) are accepted only when empty (``null``), because the upstream SDK always sends them.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mobkat.live.wire import TurningMode
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.events import MobEvent
from mobkat.mob.messages import HandlingMode
from mobkat.wire.session import Prompt, check_prompt

MAX_EVENTS_LIMIT = 1000
MobStatus = Literal["Creating", "Running", "Stopped", "Completed", "Destroyed"]
LifecycleAction = Literal["stop", "resume", "complete", "reset", "destroy"]


def member_ref(mob_id: str, identity: str) -> str:
    """The opaque member handle: base64url (unpadded) of ``{"m": mob_id, "a": identity}``."""
    raw = json.dumps({"m": mob_id, "a": identity}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def content_text(content: Prompt) -> str:
    """Text content (a string or text blocks) as one string."""
    return content if isinstance(content, str) else "\n".join(block.text for block in content)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Tolerant(BaseModel):
    """Forbids unknown fields; the upstream fields in :attr:`tolerated` may be sent, but only empty."""

    model_config = ConfigDict(extra="allow")
    tolerated: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _refuse_extra(self) -> _Tolerant:
        for key, value in (self.model_extra or {}).items():
            if key not in self.tolerated:
                raise ValueError(f"unknown field {key!r}")
            if value not in (None, False, [], {}):
                raise ValueError(f"{key} is not supported by mobkat mobs; leave it out (or null)")
        return self


# -- params -----------------------------------------------------------------------------------------
class MobCreateParams(_Params):
    """The definition's JSON form (top-level ``id``), or ``path`` to a TOML file on the server inside its
    ``--definitions-root`` (relative to it). Either way it is data: see docs/security.md."""

    definition: dict[str, Any] | None = None
    path: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> MobCreateParams:
        if (self.definition is None) == (self.path is None):
            raise ValueError("give exactly one of definition (the JSON form) or path (a TOML file)")
        return self


class MobListParams(_Params):
    """``mob/list`` takes no params."""


class MobIdParams(_Params):
    mob_id: str = Field(min_length=1)


class MemberParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)


SPAWN_TOLERATED = frozenset({"backend", "context", "additional_instructions", "placement", "binding", "shell_env",
                             "auto_wire_parent", "launch_mode", "tool_access_policy", "inherited_tool_filter",
                             "override_profile", "model_override", "auth_binding"})


class SpawnSpec(_Tolerant):
    """One member to spawn (``mob/spawn`` adds ``mob_id``)."""

    tolerated: ClassVar[frozenset[str]] = SPAWN_TOLERATED

    profile: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    initial_message: Prompt | None = None
    runtime_mode: RuntimeMode | None = None
    labels: dict[str, str] | None = None

    _check = field_validator("initial_message", mode="before")(check_prompt)

    def initial_text(self) -> str | None:
        return None if self.initial_message is None else content_text(self.initial_message)


class MobSpawnParams(SpawnSpec):
    mob_id: str = Field(min_length=1)


class MobSpawnManyParams(_Params):
    mob_id: str = Field(min_length=1)
    specs: list[SpawnSpec] = Field(min_length=1)


class MobRespawnParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    initial_message: Prompt | None = None

    _check = field_validator("initial_message", mode="before")(check_prompt)


class LocalPeer(_Params):
    local: str = Field(min_length=1)


class ExternalPeer(_Params):
    external: dict[str, Any]


class MobWireParams(_Params):
    """``peer`` is ``{"local": "<identity>"}`` (or a plain identity string)."""

    mob_id: str = Field(min_length=1)
    member: str = Field(min_length=1)
    peer: LocalPeer | ExternalPeer | str


class MobLifecycleParams(_Params):
    mob_id: str = Field(min_length=1)
    action: LifecycleAction


class MemberSendParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    content: Prompt
    handling_mode: HandlingMode = "queue"
    render_metadata: dict[str, Any] | None = None
    """Accepted for compatibility; mobkat renders every host message the same way."""

    _check = field_validator("content", mode="before")(check_prompt)


class MobEventsParams(_Params):
    mob_id: str = Field(min_length=1)
    after_cursor: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=MAX_EVENTS_LIMIT)
    strict: bool = False


class StreamOpenParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str | None = Field(default=None, min_length=1)
    events: Literal["agent", "mob"] = "agent"
    """mobkat extension: ``agent`` (upstream's stream: members' agent events), ``mob`` (structural mob events)."""


class StreamCloseParams(_Params):
    stream_id: str = Field(min_length=1)


class MemberLiveOpenParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    turning_mode: TurningMode | None = None
    transport: Literal["websocket", "webrtc"] | None = None


class MemberLiveChannelParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)


class MemberLiveStatusParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    channel_id: str | None = Field(default=None, min_length=1)


class SimpleVerb(_Params):
    verb: Literal["commit_input", "interrupt", "refresh"]


class TruncateVerb(_Params):
    verb: Literal["truncate"]
    item_id: str = Field(min_length=1)
    content_index: int = Field(ge=0)
    audio_played_ms: int = Field(ge=0)


class MemberLiveControlParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    verb: SimpleVerb | TruncateVerb = Field(discriminator="verb")


CONTROL_STATUS: dict[str, str] = {"commit_input": "committed", "interrupt": "interrupted",
                                  "truncate": "truncated", "refresh": "queued"}


# -- results ----------------------------------------------------------------------------------------
class MobCreateResult(BaseModel):
    mob_id: str


class MobStatusResult(BaseModel):
    mob_id: str
    status: MobStatus


class MobListResult(BaseModel):
    mobs: list[MobStatusResult]


class MobMember(BaseModel):
    """One ``mob/members`` row (upstream fields, plus ``generation`` and the member's session id)."""

    agent_identity: str
    member_ref: str
    role: str
    runtime_mode: RuntimeMode
    wired_to: list[str]
    labels: dict[str, str]
    status: Literal["active", "broken"]
    error: str | None = None
    is_final: bool = False
    generation: int = 0
    current_session_id: str


class MobMembersResult(BaseModel):
    mob_id: str
    members: list[MobMember]


class SpawnResult(BaseModel):
    mob_id: str
    agent_identity: str
    member_ref: str


class SpawnedRow(BaseModel):
    agent_identity: str
    member_ref: str


class FailedRow(BaseModel):
    """An upstream failure ``cause``; ``structured_data`` is mobkat's own ``{code, details}`` of the error."""

    cause: str
    message: str
    structured_data: dict[str, Any] | None = None


class SpawnManyEntry(BaseModel):
    status: Literal["spawned", "failed"]
    result: SpawnedRow | FailedRow


class SpawnManyResult(BaseModel):
    results: list[SpawnManyEntry]


class RetireResult(BaseModel):
    retired: bool


class RespawnReceipt(BaseModel):
    identity: str
    member_ref: str


class RespawnResult(BaseModel):
    status: Literal["completed", "topology_restore_failed"]
    receipt: RespawnReceipt


class WireResult(BaseModel):
    wired: bool


class UnwireResult(BaseModel):
    unwired: bool


class LifecycleResult(BaseModel):
    mob_id: str
    action: LifecycleAction
    ok: bool


class MemberSendResult(BaseModel):
    mob_id: str
    agent_identity: str
    member_ref: str
    handling_mode: HandlingMode


class MobEventsResult(BaseModel):
    events: list[MobEvent]


class StreamOpenResult(BaseModel):
    stream_id: str
    opened: bool


class StreamCloseResult(BaseModel):
    stream_id: str
    closed: bool
    already_closed: bool


class LiveControlResult(BaseModel):
    verb: Literal["commit_input", "interrupt", "truncate", "refresh"]
    status: Literal["committed", "interrupted", "truncated", "queued"]


class StreamEventParams(BaseModel):
    """Params of the ``mob/stream_event`` notification."""

    stream_id: str
    sequence: int
    event: MobEvent


class StreamEndParams(BaseModel):
    """Params of the ``mob/stream_end`` notification (``reason``: ``closed`` by the client, or ``mob_stopped``)."""

    stream_id: str
    ended: bool = True
    reason: str | None = None
