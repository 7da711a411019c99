"""Who a member is: ``mob_id/role/name``, and which incarnation (generation and fence token)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class MemberIdentity(BaseModel):
    """``mob_id/role/name`` plus the incarnation: ``generation`` and its ``fence_token``."""

    model_config = ConfigDict(frozen=True)

    mob_id: str
    role: str
    name: str
    generation: int = 0
    fence_token: str

    @property
    def comms_name(self) -> str:
        return f"{self.mob_id}/{self.role}/{self.name}"

    def next_generation(self) -> MemberIdentity:
        return self.model_copy(update={"generation": self.generation + 1, "fence_token": new_fence()})


def new_fence() -> str:
    return uuid.uuid4().hex


__all__ = ["MemberIdentity", "new_fence"]
