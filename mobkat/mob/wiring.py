"""The supervisor's wiring graph: symmetric edges between members, the auto-wiring rules, the notices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mobkat.errors import MemberBrokenError, WiringError
from mobkat.mob.definition import MobDefinition
from mobkat.mob.member_record import MemberRecord
from mobkat.mob.messages import Envelope

if TYPE_CHECKING:
    from mobkat.mob.events import EventLog
    from mobkat.mob.persistence import RosterLog


class WiringMixin:
    """Wiring for :class:`~mobkat.mob.supervisor.Supervisor` (runs on its thread)."""

    definition: MobDefinition
    events: EventLog
    journal: RosterLog
    members: dict[str, MemberRecord]
    edges: set[frozenset[str]]

    def _send(self, record: MemberRecord, envelope: Envelope) -> None:
        raise NotImplementedError

    def _require(self, name: str) -> MemberRecord:
        raise NotImplementedError

    def _active(self) -> list[MemberRecord]:
        return [m for m in self.members.values() if m.status == "active"]

    # -- wiring ----------------------------------------------------------------------------------------
    def wire(self, a: str, b: str) -> bool:
        """Wire two members (a symmetric edge); idempotent: False if already wired."""
        self._check_pair(a, b)
        return self._wire(a, b)

    def unwire(self, a: str, b: str) -> bool:
        self._check_pair(a, b)
        return self._unwire(a, b)

    def _check_pair(self, a: str, b: str) -> None:
        if a == b:
            raise WiringError(f"cannot wire member {a!r} to itself")
        for name in (a, b):
            record = self._require(name)
            if record.status == "broken":
                raise MemberBrokenError(f"member {name!r} is broken (restart limit reached); respawn or retire it")
            if not record.comms:
                raise WiringError(f"member {name!r} has tools.comms = false, so it cannot be wired")

    def _wire(self, a: str, b: str) -> bool:
        edge = frozenset((a, b))
        if edge in self.edges:
            return False
        self.edges.add(edge)
        self.journal.wired(a, b)
        self.events.append("members_wired", a=a, b=b)
        for me, peer in ((a, b), (b, a)):
            description = self.definition.profile(self.members[peer].profile).peer_description
            self._send(self.members[me], Envelope(sender=peer, receiver=me, kind="lifecycle",
                                                   body=f"peer {peer} ({description or 'no description'}) "
                                                        "is now wired to you"))
        return True

    def _unwire(self, a: str, b: str) -> bool:
        edge = frozenset((a, b))
        if edge not in self.edges:
            return False
        self.edges.discard(edge)
        self.journal.unwired(a, b)
        self.events.append("members_unwired", a=a, b=b)
        for me, peer in ((a, b), (b, a)):
            if me in self.members:
                self._send(self.members[me], Envelope(sender=peer, receiver=me, kind="lifecycle",
                                                       body=f"peer {peer} is no longer wired to you"))
        return True

    def _wired_to(self, name: str) -> list[str]:
        return sorted(next(iter(edge - {name})) for edge in self.edges if name in edge)

    def peers_of(self, name: str) -> list[dict[str, Any]]:
        return [{"name": peer, "role": self.members[peer].profile,
                 "description": self.definition.profile(self.members[peer].profile).peer_description}
                for peer in self._wired_to(name) if peer in self.members]

    def _auto_wire_targets(self, record: MemberRecord) -> list[str]:
        if not record.comms:
            return []
        role, orchestrator = record.profile, self.definition.orchestrator_profile
        wiring = self.definition.wiring
        targets: set[str] = set()
        for other in self._active():
            if other.name == record.name or not other.comms:
                continue
            if wiring.auto_wire_orchestrator and orchestrator and (
                    (role != orchestrator and other.profile == orchestrator)
                    or (role == orchestrator and other.profile != orchestrator)):
                targets.add(other.name)
            for rule in wiring.role_wiring:
                if (rule.a == role and other.profile == rule.b) or (rule.b == role and other.profile == rule.a):
                    targets.add(other.name)
        return sorted(targets)


__all__ = ["WiringMixin"]
