"""Params and results of the member calls upstream's SDK makes (issue #15 C): ``mob/member_status``,
``mob/force_cancel``, ``mob/wait_ready|wait_kickoff``, ``mob/append_system_context``, ``mob/turn_start``,
``mob/snapshot``, ``mob/ensure_member``, ``mob/list_members_matching``, ``mob/wire_members_batch``,
``mob/destroy``, ``mob/spawn_helper`` and ``mob/fork_helper`` (Meerkat wire shapes; shared by the server
and the client). Params reject unknown fields; optional upstream fields may be sent as ``null``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from mobkat.mob.definition_schema import RuntimeMode
from mobkat.wire.mob import MobMember, SpawnedRow, SpawnSpec, _Tolerant
from mobkat.wire.session import _TurnFields

MemberStatus = Literal["active", "retiring", "broken", "completed", "unknown"]
KickoffPhase = Literal["pending", "starting", "callback_pending", "started", "failed", "cancelled"]
BoundedStatus = Literal["completed", "completed_truncated", "failed", "failed_truncated", "in_progress",
                        "in_progress_truncated", "unavailable", "unavailable_truncated"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- params -----------------------------------------------------------------------------------------
class WaitParams(_Params):
    """``mob/wait_ready`` / ``mob/wait_kickoff``: the members (default: all) and a bound in ms."""

    mob_id: str = Field(min_length=1)
    member_ids: list[str] | None = None
    timeout_ms: int | None = Field(default=None, ge=0)


class AppendSystemContextParams(_Params):
    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    text: str = Field(min_length=1)
    source: str | None = None
    idempotency_key: str | None = Field(default=None, min_length=1)


class MobTurnStartParams(_TurnFields):
    """``turn/start``'s fields, addressed to a (turn-driven) member instead of a session."""

    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)


class EnsureMemberParams(_Params):
    mob_id: str = Field(min_length=1)
    spec: SpawnSpec


class MembersFilter(_Params):
    """All given filters must match; labels exactly."""

    labels: dict[str, str] | None = None
    role: str | None = None
    status: MemberStatus | None = None


class ListMembersMatchingParams(_Params):
    mob_id: str = Field(min_length=1)
    filter: MembersFilter = Field(default_factory=MembersFilter)


class Edge(_Params):
    a: str = Field(min_length=1)
    b: str = Field(min_length=1)


class WireMembersBatchParams(_Params):
    mob_id: str = Field(min_length=1)
    edges: list[Edge]


class SpawnHelperParams(_Tolerant):
    """Spawn ``agent_identity`` (mobkat: ``helper-<hex>`` when not given) from ``role_name`` (default: the first
    profile), turn-driven unless told, run ``prompt`` as one turn, retire it; the text bounded to
    ``max_text_bytes``. ``auth_binding`` and ``backend`` are accepted only as ``null``."""

    tolerated: ClassVar[frozenset[str]] = frozenset({"auth_binding", "backend"})

    mob_id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    result_label: str = Field(min_length=1)
    max_text_bytes: int = Field(ge=1)
    agent_identity: str | None = Field(default=None, min_length=1)
    role_name: str | None = Field(default=None, min_length=1)
    model_override: str | None = Field(default=None, min_length=1)
    runtime_mode: RuntimeMode | None = None


class ForkHelperParams(SpawnHelperParams):
    """:class:`SpawnHelperParams`, starting from a copy of ``source_member_id``'s transcript
    (``fork_context`` is accepted only as ``null``)."""

    tolerated: ClassVar[frozenset[str]] = frozenset({"auth_binding", "backend", "fork_context"})

    source_member_id: str = Field(min_length=1)


# -- results ----------------------------------------------------------------------------------------
class Kickoff(BaseModel):
    phase: KickoffPhase
    error: str | None = None


class PeerConnectivity(BaseModel):
    status: Literal["known", "not_applicable", "probe_timed_out"]
    snapshot: dict[str, Any] | None = None


class MemberStatusFields(BaseModel):
    """What upstream's SDK requires (``status``, ``tokens_used``, ``is_final``) and reads when present."""

    status: MemberStatus
    tokens_used: int = Field(ge=0)
    is_final: bool
    output_preview: str | None = None
    error: str | None = None
    current_session_id: str | None = None
    kickoff: Kickoff | None = None
    peer_connectivity: PeerConnectivity | None = None


class MemberStatusResult(MemberStatusFields):
    member_ref: str


class WaitMember(MemberStatusFields):
    agent_identity: str


class WaitResult(BaseModel):
    members: list[WaitMember]


class ForceCancelResult(BaseModel):
    cancelled: bool


class AppendSystemContextResult(BaseModel):
    mob_id: str
    agent_identity: str
    status: Literal["applied", "duplicate"]


class SnapshotResult(BaseModel):
    mob_id: str
    status: str
    members: list[MobMember]


class EnsureOutcome(BaseModel):
    """Exactly one of ``spawned`` (a receipt) or ``existed`` (the ``mob/members`` entry)."""

    spawned: SpawnedRow | None = None
    existed: MobMember | None = None


class EnsureMemberResult(BaseModel):
    outcome: EnsureOutcome


class MembersResult(BaseModel):
    members: list[MobMember]


class WireMembersBatchResult(BaseModel):
    requested: int
    wired: list[Edge]
    already_wired: list[Edge]


class DestroyResult(BaseModel):
    mob_id: str
    ok: bool
    destroy_report: dict[str, Any]


class BoundedResult(BaseModel):
    label: str
    status: BoundedStatus
    text: str


class HelperResult(BaseModel):
    output: str
    tokens_used: int
    agent_identity: str
    member_ref: str
    bounded_result: BoundedResult
    session_id: str
    usage: dict[str, Any]
    turns: int
    tool_calls: int
    retirement_error: str | None = None


__all__ = ["AppendSystemContextParams", "AppendSystemContextResult", "BoundedResult", "DestroyResult", "Edge",
           "EnsureMemberParams", "EnsureMemberResult", "EnsureOutcome", "ForceCancelResult", "ForkHelperParams",
           "HelperResult", "ListMembersMatchingParams", "MemberStatusResult", "MembersFilter", "MembersResult",
           "MobTurnStartParams", "SnapshotResult", "SpawnHelperParams", "WaitMember", "WaitParams", "WaitResult",
           "WireMembersBatchParams", "WireMembersBatchResult"]
