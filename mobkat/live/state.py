"""The live channel's explicit state machine: idle → opening → ready ⇄ degraded → closing → closed."""

from __future__ import annotations

import threading

from mobkat.live.wire import ChannelStateName, ChannelStatus, DegradedReason

TRANSITIONS: dict[ChannelStateName, frozenset[ChannelStateName]] = {
    "idle": frozenset({"opening", "closed"}),
    "opening": frozenset({"ready", "closing", "closed"}),
    "ready": frozenset({"degraded", "closing", "closed"}),
    "degraded": frozenset({"ready", "closing", "closed"}),
    "closing": frozenset({"closed"}),
    "closed": frozenset(),
}


class InvalidTransitionError(RuntimeError):
    pass


class ChannelStateMachine:
    """Holds the current status; every change goes through :meth:`move`, which checks the table."""

    def __init__(self) -> None:
        self._status = ChannelStatus(status="idle")
        self._lock = threading.Lock()

    @property
    def status(self) -> ChannelStatus:
        return self._status

    @property
    def name(self) -> ChannelStateName:
        return self._status.status

    def can_move(self, target: ChannelStateName) -> bool:
        return target in TRANSITIONS[self._status.status]

    def move(self, target: ChannelStateName, reason: DegradedReason | None = None) -> ChannelStatus:
        with self._lock:
            current = self._status.status
            if target not in TRANSITIONS[current]:
                raise InvalidTransitionError(f"live channel cannot go from {current} to {target}")
            self._status = ChannelStatus(status=target, reason=reason if target == "degraded" else None)
            return self._status
