"""The shapes of ``[flows.<flow_id>]`` and ``[limits]`` in a mob definition (upstream's FlowSpec, the flat
DAG form): pydantic models with ``extra="forbid"`` and ``strict=True``. Cross-references (roles, step
dependencies, cycles, branches) are checked in :mod:`mobkat.mob.flow_checks`; the run semantics live in
:mod:`mobkat.mob.flow_engine`. Step keys mobkat does not implement (``allowed_tools``, ``blocked_tools``)
and a flow's ``root`` frame graph load with a warning (:mod:`mobkat.mob.upstream_keys`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

DEFAULT_STEP_TIMEOUT_MS = 30_000
"""Upstream's runtime default for a step's ``timeout_ms``."""


class EqCondition(BaseModel):
    """``{ op = "eq"|"gt"|"lt", path = "params.x", value = ... }``."""

    model_config = _STRICT

    op: Literal["eq", "gt", "lt"]
    path: str
    value: Any


class InCondition(BaseModel):
    """``{ op = "in", path = "...", values = [...] }``."""

    model_config = _STRICT

    op: Literal["in"]
    path: str
    values: list[Any]


class AllAnyCondition(BaseModel):
    """``{ op = "and"|"or", exprs = [...] }``."""

    model_config = _STRICT

    op: Literal["and", "or"]
    exprs: list[Condition]


class NotCondition(BaseModel):
    """``{ op = "not", expr = {...} }``."""

    model_config = _STRICT

    op: Literal["not"]
    expr: Condition


Condition = Annotated[EqCondition | InCondition | AllAnyCondition | NotCondition, Field(discriminator="op")]
AllAnyCondition.model_rebuild()
NotCondition.model_rebuild()


class AllPolicy(BaseModel):
    model_config = _STRICT
    type: Literal["all"]


class AnyPolicy(BaseModel):
    model_config = _STRICT
    type: Literal["any"]


class QuorumPolicy(BaseModel):
    model_config = _STRICT
    type: Literal["quorum"]
    n: int = Field(ge=0)  # n = 0 is a check error (quorum_invalid) with its line, not a parse error


CollectionPolicy = Annotated[AllPolicy | AnyPolicy | QuorumPolicy, Field(discriminator="type")]


class FlowStep(BaseModel):
    """``[flows.<flow>.steps.<step>]``: one unit of work dispatched to the members of ``role``."""

    model_config = _STRICT

    role: str
    """The profile whose active members run the step."""
    message: str
    """The prompt; ``{{ params.x }}`` and ``{{ steps.<id>.output[.path] }}`` are filled in."""
    depends_on: list[str] = Field(default_factory=list)
    depends_on_mode: Literal["all", "any"] = "all"
    dispatch_mode: Literal["fan_out", "one_to_one", "fan_in"] = "fan_out"
    collection_policy: CollectionPolicy = Field(default_factory=lambda: AllPolicy(type="all"))
    condition: Condition | None = None
    branch: str | None = None
    timeout_ms: int = Field(default=DEFAULT_STEP_TIMEOUT_MS, gt=0)
    expected_schema_ref: str | None = None
    """An inline JSON schema (a JSON text) or a path, relative to the definition, to a JSON schema file."""
    output_format: Literal["json", "text"] | None = None
    """``json`` (the default with a schema) parses the reply, ``text`` (the default otherwise) keeps it."""
    failure_policy: Literal["escalate", "continue"] = "escalate"


class FlowSpec(BaseModel):
    """``[flows.<flow_id>]``: a flat DAG of steps, kept in authoring order."""

    model_config = _STRICT

    description: str | None = None
    steps: dict[str, FlowStep] = Field(default_factory=dict)


class FlowLimits(BaseModel):
    """``[limits]``: flow guardrails (the two mobkat enforces; the others load with a warning)."""

    model_config = _STRICT

    max_flow_duration_ms: int | None = Field(default=None, gt=0)
    max_step_retries: int = Field(default=0, ge=0)


__all__ = ["DEFAULT_STEP_TIMEOUT_MS", "CollectionPolicy", "Condition", "FlowLimits", "FlowSpec", "FlowStep"]
