"""What the supervisor keeps of one member: its identity, its current incarnation (a port), its unacknowledged
messages and its restart history."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import pykka

from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.member import MemberActor
from mobkat.mob.member_port import MemberPort
from mobkat.mob.messages import Envelope


@dataclass
class MemberRecord:
    """One member of the roster (the supervisor's thread only)."""

    name: str
    profile: str
    identity: MemberIdentity
    port: MemberPort  # the current incarnation, wherever the engine runs it
    session_id: str
    comms: bool
    live_wanted: bool
    status: Literal["active", "broken", "retired"] = "active"
    restarts: deque[float] = field(default_factory=deque)
    unacked: dict[str, Envelope] = field(default_factory=dict)  # insertion-ordered: redelivered in order
    live_requested: bool = False
    runtime_mode: RuntimeMode = "autonomous_host"
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> pykka.ActorRef[MemberActor]:
        """The member's actor, when it runs in this process (``MobError`` for a member on another node)."""
        return self.port.local_ref()

    def view(self, wired_to: list[str]) -> dict[str, Any]:
        return {"name": self.name, "role": self.profile, "generation": self.identity.generation,
                "fence_token": self.identity.fence_token, "status": self.status, "session_id": self.session_id,
                "wired_to": wired_to, "queued": len(self.unacked), "comms_name": self.identity.comms_name,
                "runtime_mode": self.runtime_mode, "labels": dict(self.labels)}


__all__ = ["MemberRecord"]
