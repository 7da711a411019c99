"""The member calls of :class:`~mobkat.client.mob.MobHandle` (issue #15 C): status, waits, force-cancel,
system context, member turns, snapshot, ensure, filtered listing, batch wiring, helpers and destroy.
Results are the pydantic models of :mod:`mobkat.wire.mob_extras`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mobkat.wire.mob import MobMember, SpawnSpec
from mobkat.wire.mob_extras import (
    AppendSystemContextResult,
    DestroyResult,
    EnsureMemberResult,
    ForceCancelResult,
    HelperResult,
    MembersResult,
    MemberStatusResult,
    SnapshotResult,
    WaitMember,
    WaitResult,
    WireMembersBatchResult,
)


class MemberCallsMixin:
    """Mixed into ``MobHandle``, which provides ``_call(method, **params)`` (``None`` params left out)."""

    async def _call(self, method: str, **params: Any) -> Any:
        raise NotImplementedError

    async def member_status(self, agent_identity: str) -> MemberStatusResult:
        return MemberStatusResult.model_validate(await self._call("mob/member_status", agent_identity=agent_identity))

    async def wait_ready(self, member_ids: Sequence[str] | None = None,
                         timeout_ms: int | None = None) -> list[WaitMember]:
        raw = await self._call("mob/wait_ready", member_ids=_list(member_ids), timeout_ms=timeout_ms)
        return WaitResult.model_validate(raw).members

    async def wait_kickoff(self, member_ids: Sequence[str] | None = None,
                           timeout_ms: int | None = None) -> list[WaitMember]:
        raw = await self._call("mob/wait_kickoff", member_ids=_list(member_ids), timeout_ms=timeout_ms)
        return WaitResult.model_validate(raw).members

    async def force_cancel(self, agent_identity: str) -> bool:
        """Cancel the member's running turn; ``False`` when it was idle."""
        raw = await self._call("mob/force_cancel", agent_identity=agent_identity)
        return ForceCancelResult.model_validate(raw).cancelled

    async def append_system_context(self, agent_identity: str, text: str, *, source: str | None = None,
                                    idempotency_key: str | None = None) -> str:
        """``applied`` or ``duplicate``."""
        raw = await self._call("mob/append_system_context", agent_identity=agent_identity, text=text, source=source,
                               idempotency_key=idempotency_key)
        return AppendSystemContextResult.model_validate(raw).status

    async def turn_start(self, agent_identity: str, prompt: str, **overrides: Any) -> dict[str, Any]:
        """A turn on a turn-driven member (``turn/start``'s overrides: ``model``, ``system_prompt``, ...)."""
        result: dict[str, Any] = await self._call("mob/turn_start", agent_identity=agent_identity, prompt=prompt,
                                                  **overrides)
        return result

    async def snapshot(self) -> SnapshotResult:
        return SnapshotResult.model_validate(await self._call("mob/snapshot"))

    async def ensure_member(self, spec: SpawnSpec | dict[str, Any]) -> EnsureMemberResult:
        wire = spec.model_dump(exclude_none=True) if isinstance(spec, SpawnSpec) else spec
        return EnsureMemberResult.model_validate(await self._call("mob/ensure_member", spec=wire))

    async def list_members_matching(self, *, labels: dict[str, str] | None = None, role: str | None = None,
                                    status: str | None = None) -> list[MobMember]:
        wanted = {k: v for k, v in {"labels": labels, "role": role, "status": status}.items() if v is not None}
        return MembersResult.model_validate(await self._call("mob/list_members_matching", filter=wanted)).members

    async def wire_members_batch(self, edges: Sequence[tuple[str, str]]) -> WireMembersBatchResult:
        raw = await self._call("mob/wire_members_batch", edges=[{"a": a, "b": b} for a, b in edges])
        return WireMembersBatchResult.model_validate(raw)

    async def destroy(self) -> DestroyResult:
        return DestroyResult.model_validate(await self._call("mob/destroy"))

    async def spawn_helper(self, prompt: str, *, result_label: str, max_text_bytes: int,
                           agent_identity: str | None = None, role_name: str | None = None,
                           model_override: str | None = None) -> HelperResult:
        raw = await self._call("mob/spawn_helper", prompt=prompt, result_label=result_label,
                               max_text_bytes=max_text_bytes, agent_identity=agent_identity, role_name=role_name,
                               model_override=model_override)
        return HelperResult.model_validate(raw)

    async def fork_helper(self, source_member_id: str, prompt: str, *, result_label: str, max_text_bytes: int,
                          agent_identity: str | None = None, role_name: str | None = None,
                          model_override: str | None = None) -> HelperResult:
        raw = await self._call("mob/fork_helper", source_member_id=source_member_id, prompt=prompt,
                               result_label=result_label, max_text_bytes=max_text_bytes,
                               agent_identity=agent_identity, role_name=role_name, model_override=model_override)
        return HelperResult.model_validate(raw)


def _list(values: Sequence[str] | None) -> list[str] | None:
    return None if values is None else list(values)


__all__ = ["MemberCallsMixin"]
