"""Member calls of a running :class:`~mobkat.mob.Mob` that upstream's SDK exposes (blocking; the RPC server
runs them off its loop): status, readiness and kickoff waits, force-cancel, system context, filtered
listing and batch wiring.

Kickoff (a member's first turn) is read from the mob's events: an ``autonomous_host`` member's kickoff is
``pending`` from ``member_spawned`` until its first ``turn_committed`` (``started``), a dead-lettered
message (``failed``) or a ``turn_cancelled`` (``cancelled``). A restored member's kickoff happened in an
earlier run: ``started``. ``turn_driven`` members have a kickoff only once they ran a turn.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

from mobkat.errors import (
    InvalidInputError,
    MemberNotFoundError,
    MemberWaitTimedOutError,
    SystemContextConflictError,
)
from mobkat.history import BlockAssistantRow, HistoryRow, SystemRow
from mobkat.mob.events import MobEvent
from mobkat.mob.mob import Mob

KickoffPhase = Literal["pending", "starting", "started", "failed", "cancelled"]
SETTLED: frozenset[str] = frozenset({"started", "failed", "cancelled"})
READY_TIMEOUT_S = 60.0
KICKOFF_TIMEOUT_S = 600.0
CONTEXT_PREFIX = "system-context:"


def member_view(mob: Mob, name: str) -> dict[str, Any]:
    """The member's roster row (``mob.members()``), or ``MemberNotFoundError`` naming the members."""
    roster = mob.members()
    for view in roster:
        if view["name"] == name:
            return view
    raise MemberNotFoundError(f"mob member not found: {name} (mob {mob.id} has: "
                              f"{', '.join(sorted(v['name'] for v in roster)) or 'no members'})",
                              details={"mob_id": mob.id, "agent_identity": name})


def _events(mob: Mob) -> list[MobEvent]:
    log = mob.events_log
    try:
        return log.after(0)
    except InvalidInputError as exc:  # the oldest events were dropped: read from the oldest kept one
        return log.after(int(exc.details.get("oldest", 1)) - 1)


def kickoff_phases(mob: Mob) -> dict[str, KickoffPhase]:
    """Each member's kickoff phase, from the mob's events (members without a kickoff are absent)."""
    phases: dict[str, KickoffPhase] = {}
    for event in _events(mob):
        name = event.get("member")
        if not isinstance(name, str):
            continue
        if event.type == "member_spawned":
            if event.get("runtime_mode") == "autonomous_host":
                phases[name] = "pending"
            else:
                phases.pop(name, None)
        elif event.type == "member_restored":
            phases[name] = "started"
        elif event.type == "member_retired":
            phases.pop(name, None)
        elif phases.get(name) in ("pending", None):
            settled = {"turn_committed": "started", "message_dead_lettered": "failed",
                       "turn_cancelled": "cancelled"}.get(event.type)
            if settled is not None:
                phases[name] = settled  # type: ignore[assignment]
    return phases


def _tokens_and_preview(mob: Mob, session_id: str) -> tuple[int, str | None]:
    rows: list[HistoryRow] = mob.services.store.history(session_id)
    total, preview = 0, None
    for row in rows:
        if isinstance(row, BlockAssistantRow):
            if row.usage is not None:
                total += row.usage.total_tokens or row.usage.input_tokens + row.usage.output_tokens
            preview = row.text or preview
    return total, preview


def status_of(mob: Mob, view: dict[str, Any], phases: dict[str, KickoffPhase]) -> dict[str, Any]:
    """Upstream's member status object for one roster row (without ``member_ref``, which the host adds)."""
    tokens, preview = _tokens_and_preview(mob, view["session_id"])
    status: dict[str, Any] = {"status": view["status"], "tokens_used": tokens, "is_final": False,
                              "current_session_id": view["session_id"],
                              "peer_connectivity": {"status": "known", "snapshot": {
                                  "reachable_peer_count": len(view["wired_to"]), "unknown_peer_count": 0}}}
    if preview is not None:
        status["output_preview"] = preview[:200]
    if view["status"] == "broken":
        status["error"] = "restart limit reached"
    phase = phases.get(view["name"])
    if phase is not None:
        status["kickoff"] = {"phase": phase}
    return status


def member_status(mob: Mob, name: str) -> dict[str, Any]:
    """``mob/member_status`` of one member."""
    return status_of(mob, member_view(mob, name), kickoff_phases(mob))


def _wait(mob: Mob, names: list[str] | None, timeout_s: float, done: Any, what: str) -> list[dict[str, Any]]:
    """Statuses of ``names`` (default: every member) once ``done(view, phases)`` holds for each; woken by
    the mob's events, never polling blindly; ``MemberWaitTimedOutError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    cursor = mob.events_log.latest
    while True:
        roster = {view["name"]: view for view in mob.members()}
        phases = kickoff_phases(mob)
        targets = names if names is not None else sorted(roster)
        waiting = [n for n in targets if n not in roster or not done(roster[n], phases)]
        if not waiting:
            return [{"agent_identity": n, **status_of(mob, roster[n], phases)} for n in targets]
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MemberWaitTimedOutError(
                f"{what} wait timed out after {timeout_s:g} s (mob {mob.id}; still waiting for: {', '.join(waiting)})",
                details={"mob_id": mob.id, "waiting_for": waiting, "timeout_ms": int(timeout_s * 1000)})
        for event in mob.events_log.follow(cursor, timeout=min(remaining, 0.5)):
            cursor = event.cursor
            break


def wait_ready(mob: Mob, names: list[str] | None = None, timeout_s: float = READY_TIMEOUT_S) -> list[dict[str, Any]]:
    """``mob/wait_ready``: each member is in the roster and its actor runs (turn-driven members at once)."""
    return _wait(mob, names, timeout_s, lambda view, _phases: view["status"] == "active", "member ready")


def wait_kickoff(mob: Mob, names: list[str] | None = None,
                 timeout_s: float = KICKOFF_TIMEOUT_S) -> list[dict[str, Any]]:
    """``mob/wait_kickoff``: each autonomous member's first turn has settled (started, failed or cancelled)."""
    return _wait(mob, names, timeout_s,
                 lambda view, phases: phases.get(view["name"], "started") in SETTLED, "kickoff")


def force_cancel(mob: Mob, name: str) -> bool:
    """``mob/force_cancel``: cancel the member's running turn (it commits nothing; its messages count as
    consumed); the member stays. False when it was idle."""
    member_view(mob, name)
    handle = mob.member(name)
    return bool(handle.proxy().cancel_turn().get(timeout=handle.timeout))


def append_system_context(mob: Mob, name: str, text: str, source: str | None = None,
                          idempotency_key: str | None = None) -> Literal["applied", "duplicate"]:
    """``mob/append_system_context``: append one durable System row to the member's session now (its model
    sees it from its next turn on). The same ``idempotency_key`` with the same text and source is a
    ``duplicate`` (nothing appended); with another text or source it is a ``SystemContextConflictError``."""
    view = member_view(mob, name)
    row_id = None
    if idempotency_key is not None:
        digest = hashlib.sha256(f"{source or ''}\0{text}".encode()).hexdigest()[:16]
        row_id = f"{CONTEXT_PREFIX}{idempotency_key}:{digest}"
        for row in mob.services.store.history(view["session_id"]):
            if isinstance(row, SystemRow) and (row.interaction_id or "").startswith(
                    f"{CONTEXT_PREFIX}{idempotency_key}:"):
                if row.interaction_id == row_id:
                    return "duplicate"
                raise SystemContextConflictError(
                    f"append_system_context: idempotency_key {idempotency_key!r} was already used for member {name} "
                    "with another text or source", details={"agent_identity": name, "idempotency_key": idempotency_key})
    handle = mob.member(name)
    session = handle.proxy().session.get(timeout=handle.timeout)
    session.commit([SystemRow(content=text, interaction_id=row_id)])
    mob.events_log.append("system_context_appended", member=name, source=source, idempotency_key=idempotency_key)
    return "applied"


def list_members_matching(mob: Mob, labels: dict[str, str] | None = None, role: str | None = None,
                          status: str | None = None) -> list[dict[str, Any]]:
    """Roster rows matching every filter given (labels exactly, role = profile, status)."""
    return [view for view in mob.members()
            if (role is None or view["role"] == role) and (status is None or view["status"] == status)
            and all(view["labels"].get(k) == v for k, v in (labels or {}).items())]


def wire_members_batch(mob: Mob, edges: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Wire each edge (checked first: unknown members fail before anything is wired); ``(wired, already_wired)``."""
    names = {view["name"] for view in mob.members()}
    for a, b in edges:
        for name in (a, b):
            if name not in names:
                member_view(mob, name)  # raises, naming the members
    wired: list[tuple[str, str]] = []
    already: list[tuple[str, str]] = []
    for a, b in edges:
        (wired if mob.wire(a, b) else already).append((a, b))
    return wired, already


__all__ = ["append_system_context", "force_cancel", "kickoff_phases", "list_members_matching", "member_status",
           "member_view", "status_of", "wait_kickoff", "wait_ready", "wire_members_batch"]
