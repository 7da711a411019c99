"""Params and results of the ``fault/*`` methods (``mobkat rpc --fault-injection``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MemberCrashParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mob_id: str = Field(min_length=1)
    agent_identity: str = Field(min_length=1)
    reason: str = "fault/member_crash"


class ProviderDropParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberCrashResult(BaseModel):
    mob_id: str
    agent_identity: str
    generation: int
    """The generation that was crashed; its restart (if any) is ``generation + 1``."""


class ProviderDropResult(BaseModel):
    dropped: int
    """How many realtime sockets were open and cut."""
