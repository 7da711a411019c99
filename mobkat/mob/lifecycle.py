"""The mob lifecycle: upstream's states and actions, and the one table of which action is legal from where.

| action   | from                        | to        | what happens                                                |
|----------|-----------------------------|-----------|-------------------------------------------------------------|
| stop     | Running                     | Stopped   | member actors stop (live channels close, undelivered        |
|          |                             |           | messages are dropped); the roster stays; mutations refused  |
| resume   | Stopped                     | Running   | every member comes back on its session, generation + 1      |
| complete | Running                     | Completed | every member is retired and its session archived            |
| reset    | Running, Stopped, Completed | Running   | every member is retired, the roster emptied, epoch + 1      |
| destroy  | Running, Stopped, Completed | Destroyed | members retired, the mob's records deleted (terminal)       |
"""

from __future__ import annotations

from typing import Literal, get_args

from mobkat.errors import InvalidTransitionError
from mobkat.mob.events import EventType
from mobkat.store.mob_records import MobState

LifecycleAction = Literal["stop", "resume", "complete", "reset", "destroy"]
LIFECYCLE_ACTIONS: tuple[LifecycleAction, ...] = get_args(LifecycleAction)

TRANSITIONS: dict[LifecycleAction, tuple[frozenset[MobState], MobState]] = {
    "stop": (frozenset({"Running"}), "Stopped"),
    "resume": (frozenset({"Stopped"}), "Running"),
    "complete": (frozenset({"Running"}), "Completed"),
    "reset": (frozenset({"Running", "Stopped", "Completed"}), "Running"),
    "destroy": (frozenset({"Running", "Stopped", "Completed"}), "Destroyed"),
}
"""action → (states it is legal from, the state it leads to)."""

EVENTS: dict[LifecycleAction, EventType] = {
    "stop": "mob_stopped", "resume": "mob_resumed", "complete": "mob_completed", "reset": "mob_reset",
    "destroy": "mob_destroyed",
}
"""The event each action ends with."""


def next_state(mob_id: str, state: MobState, action: LifecycleAction) -> MobState:
    """The state ``action`` leads to from ``state``; an illegal one is an ``InvalidTransitionError``."""
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        raise InvalidTransitionError(
            f"invalid state transition: {state} -> {target} (mob {mob_id} is {state}; {action} is allowed only "
            f"from {', '.join(sorted(allowed))})",
            details={"mob_id": mob_id, "state": state, "action": action, "allowed_from": sorted(allowed)})
    return target


def require_running(mob_id: str, state: MobState, operation: str) -> None:
    """Mutations (spawn, wire, send, ...) need a Running mob; reads work in every state."""
    if state != "Running":
        raise InvalidTransitionError(
            f"invalid state transition: mob {mob_id} is {state}, so {operation} is refused; reads (status, "
            "members, events) still work" + (", and resume brings it back" if state == "Stopped" else ""),
            details={"mob_id": mob_id, "state": state, "status": state, "operation": operation})


__all__ = ["EVENTS", "LIFECYCLE_ACTIONS", "TRANSITIONS", "LifecycleAction", "next_state", "require_running"]
