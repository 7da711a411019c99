"""Peer messages: the envelope routed member → supervisor → member, and how it lands in history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from mobkat.errors import InvalidInputError
from mobkat.history import SystemNoticeRow
from mobkat.ids import new_message_id

PeerKind = Literal["message", "request", "response", "lifecycle"]
HandlingMode = Literal["queue", "steer"]
ResponseStatus = Literal["accepted", "completed", "failed"]
_KINDS = frozenset(get_args(PeerKind))
_MODES = frozenset(get_args(HandlingMode))
_STATUSES = frozenset(get_args(ResponseStatus))


@dataclass(slots=True)
class Envelope:
    """One routed peer message. ``sender`` is a member name, or ``"operator"`` for host input.

    A plain slotted dataclass, not a pydantic model: it never crosses the wire, and building one sits on
    the routing hot path (~1 µs instead of ~4). Treat it as immutable once routed. Construction checks the
    closed-set fields, so a bad ``kind`` or ``handling_mode`` is a clear error at the caller.
    """

    sender: str
    receiver: str
    kind: PeerKind = "message"
    body: str = ""
    intent: str | None = None
    params: dict[str, Any] | None = None
    in_reply_to: str | None = None
    status: ResponseStatus | None = None
    handling_mode: HandlingMode = "queue"
    id: str = field(default_factory=new_message_id)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS or self.handling_mode not in _MODES or (
                self.status is not None and self.status not in _STATUSES):
            raise InvalidInputError(
                f"peer message: kind must be one of {sorted(_KINDS)} (got {self.kind!r}), handling_mode one of "
                f"{sorted(_MODES)} (got {self.handling_mode!r}), status one of {sorted(_STATUSES)} or None "
                f"(got {self.status!r})", details={"kind": self.kind, "handling_mode": self.handling_mode})
        if not isinstance(self.body, str) or not isinstance(self.sender, str) or not isinstance(self.receiver, str):
            raise InvalidInputError("peer message: sender, receiver and body must be strings")

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
            "status": self.status, "summary": None, "message_id": self.id,
        }
        return SystemNoticeRow(kind="comms", body=self.render(), blocks=[block])


def kickoff_text(mob_id: str, member: str, profile: str) -> str:
    """Default first message of an autonomous member (Meerkat's wording)."""
    return f"You have been spawned as '{member}' (role: {profile}) in mob '{mob_id}'."
