"""Peer messages: the envelope routed member → supervisor → member, and how it lands in history."""

from __future__ import annotations

import itertools
import json
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mobkat.history import SystemNoticeRow

PeerKind = Literal["message", "request", "response", "lifecycle"]
HandlingMode = Literal["queue", "steer"]
ResponseStatus = Literal["accepted", "completed", "failed"]

_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big") << 20)


def new_message_id() -> str:
    """32 hex digits: a random per-process prefix and a counter. Unique like ``uuid4().hex``, but it makes no
    system call per message (``os.urandom`` releases the GIL, which let other threads stall the sender)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


class Envelope(BaseModel):
    """One routed peer message. ``sender`` is a member name, or ``"operator"`` for host input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=new_message_id)
    sender: str
    receiver: str
    kind: PeerKind = "message"
    body: str = ""
    intent: str | None = None
    params: dict[str, Any] | None = None
    in_reply_to: str | None = None
    status: ResponseStatus | None = None
    handling_mode: HandlingMode = "queue"

    @property
    def starts_turn(self) -> bool:
        """Lifecycle notices are context only; everything else wakes the receiver."""
        return self.kind != "lifecycle"

    def render(self) -> str:
        """The text a model sees (Meerkat's projection of the comms block)."""
        if self.sender == "operator":
            return self.body
        if self.kind == "request":
            params = json.dumps(self.params or {}, sort_keys=True)
            return (f"Peer request from {self.sender} (id: {self.id})\nIntent: {self.intent}\nParams: {params}\n"
                    f"Answer with send_response(peer={self.sender!r}, in_reply_to={self.id!r}, ...).")
        if self.kind == "response":
            return (f"Peer response from {self.sender} (to request: {self.in_reply_to})\n"
                    f"Status: {self.status}\nResult: {self.body}")
        if self.kind == "lifecycle":
            return f"Mob notice: {self.body} (context only; do not reply)"
        return f"Peer message from {self.sender}:\n{self.body}"

    def to_row(self) -> SystemNoticeRow:
        """A typed ``system_notice`` row with a ``comms`` block, as the receiver's history stores it."""
        block: dict[str, Any] = {
            "type": "comms", "direction": "incoming", "kind": self.kind,
            "peer": {"id": self.sender, "display_name": self.sender},
            "intent": self.intent, "request_id": self.in_reply_to if self.kind == "response" else self.id,
            "status": self.status, "summary": None,
        }
        return SystemNoticeRow(kind="comms", body=self.render(), blocks=[block])


def kickoff_text(mob_id: str, member: str, profile: str) -> str:
    """Default first message of an autonomous member (Meerkat's wording)."""
    return f"You have been spawned as '{member}' (role: {profile}) in mob '{mob_id}'."
