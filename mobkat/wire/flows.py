"""Flow runs on the wire (``mob/flows``, ``mob/flow_run``, ``mob/run``, ``mob/flow_status``,
``mob/run_result``, ``mob/flow_cancel``): Meerkat's shapes, shared by the server, the client and the
flow-run store (a :class:`MobRun` is also the stored record)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["pending", "running", "completed", "failed", "canceled"]
StepStatus = Literal["dispatched", "completed", "failed", "skipped", "canceled"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "canceled"})
FLOW_SYSTEM_MEMBER = "__flow_system_member__"
"""The ``agent_identity`` of every step-ledger entry (upstream's reserved name)."""
FailureCause = Literal["step_timeout", "schema_validation", "run_canceled", "insufficient_targets", "step_error",
                       "internal", "server_restarted"]


def check_run_id(run_id: str) -> str:
    """``run_id`` if it is a UUID, else ``ValueError("Invalid run_id: ...")`` (upstream's wording)."""
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise ValueError(f"Invalid run_id: {run_id}") from None
    return run_id


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FlowRunParams(_Params):
    mob_id: str = Field(min_length=1)
    flow_id: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class MobRunParams(_Params):
    """``mob/run``: ``flow_id`` defaults to ``main``; ``prompt`` becomes ``params.prompt`` unless given."""

    mob_id: str = Field(min_length=1)
    flow_id: str | None = None
    params: dict[str, Any] | None = None
    prompt: str | None = None

    def activation(self) -> tuple[str, dict[str, Any]]:
        params = dict(self.params or {})
        if self.prompt is not None:
            params.setdefault("prompt", self.prompt)
        return self.flow_id or "main", params


class RunIdParams(_Params):
    mob_id: str = Field(min_length=1)
    run_id: str = Field(min_length=1)


class MobFlowsResult(BaseModel):
    mob_id: str
    flows: list[str]


class FlowRunResult(BaseModel):
    run_id: str


class StepLedgerEntry(BaseModel):
    """One step status change (append-only)."""

    step_id: str
    agent_identity: str = FLOW_SYSTEM_MEMBER
    status: StepStatus
    output: Any = None
    reason: str | None = None


class FailureLedgerEntry(BaseModel):
    step_id: str | None
    cause: FailureCause
    reason: str


class MobRun(BaseModel):
    """A flow run: the record stored before ``mob/flow_run`` answers, and ``mob/flow_status``'s ``run``."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    mob_id: str
    flow_id: str
    status: RunStatus = "pending"
    activation_params: dict[str, Any] = Field(default_factory=dict)
    step_ledger: list[StepLedgerEntry] = Field(default_factory=list)
    failure_ledger: list[FailureLedgerEntry] = Field(default_factory=list)
    root_step_outputs: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = 1

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def result_envelope(self) -> RunResultEnvelope:
        """``mob/run_result``'s ``run``: ``outputs`` by step; ``result`` the single output, else ``{steps}``."""
        outputs = dict(self.root_step_outputs)
        result = next(iter(outputs.values())) if len(outputs) == 1 else {"steps": outputs}
        return RunResultEnvelope(run_id=self.run_id, mob_id=self.mob_id, flow_id=self.flow_id, status=self.status,
                                 outputs=outputs, result=result if outputs else None)


class RunResultEnvelope(BaseModel):
    run_id: str
    mob_id: str
    flow_id: str
    status: RunStatus
    result: Any = None
    outputs: dict[str, Any] | None = None


class FlowStatusResult(BaseModel):
    """``{"run": ...}``, or ``{}`` for an unknown run (dump with ``exclude_none``)."""

    run: MobRun | None = None


class RunResultResult(BaseModel):
    run: RunResultEnvelope | None = None


class FlowCancelResult(BaseModel):
    canceled: bool


__all__ = [
    "FLOW_SYSTEM_MEMBER",
    "TERMINAL",
    "FailureLedgerEntry",
    "FlowCancelResult",
    "FlowRunParams",
    "FlowRunResult",
    "FlowStatusResult",
    "MobFlowsResult",
    "MobRun",
    "MobRunParams",
    "RunIdParams",
    "RunResultEnvelope",
    "RunResultResult",
    "RunStatus",
    "StepLedgerEntry",
    "check_run_id",
]
