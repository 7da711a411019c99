"""The built-in comms tools a member's model uses to reach its peers (all routed by the supervisor)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Literal

import pykka

from mobkat.errors import AmbiguousReplyError, NoReplyCapabilityError, UnknownReplyToError
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.mob.messages import Envelope, HandlingMode
from mobkat.session.tools import Tool, make_tool

ROUTE_TIMEOUT = 10.0

COMMS_SKILL = (
    "You are a member of a team (a mob). Discover your peers with peers(); message a peer with "
    "send_message(peer, body); answer the peer message or request that woke you with reply_to_peer(body); "
    "ask for something specific with send_request and answer requests with send_response. Notices about peers "
    "joining or leaving are context only: do not reply to them."
)


class PeerRouter:
    """What a member's comms tools call: the supervisor, with a deadline on every ask.

    Takes the supervisor's ref or an existing proxy (building a pykka proxy introspects the actor, which
    costs about a millisecond: the supervisor shares one proxy between all its members' routers).
    """

    def __init__(self, supervisor: pykka.ActorRef[Any] | pykka.ActorProxy[Any], sender: str,
                 timeout: float = ROUTE_TIMEOUT, room: InboxRoom | None = None,
                 max_wait_s: float | None = None, own: Callable[[], Any] | None = None) -> None:
        self._supervisor = supervisor.proxy() if isinstance(supervisor, pykka.ActorRef) else supervisor
        self.sender = sender
        self.timeout = timeout
        self.room = room if room is not None else InboxRoom()
        """A full inbox makes the sender wait (bounded) for room before it is refused."""
        self.max_wait_s = max_wait_s
        """A tighter bound for that wait: within the tool's own timeout, so a refusal is never a timeout."""
        self.own = own
        """The sender's own actor proxy, where the supervisor cannot hand out its actor (a member on a Ray node)."""

    def _route_once(self, envelope: Envelope) -> str:
        message_id: str = self._supervisor.route(envelope).get(timeout=self.timeout)
        return message_id

    def route(self, envelope: Envelope) -> str:
        return self.room.route(self._route_once, envelope, self.max_wait_s)

    def reply_targets(self) -> list[dict[str, str]]:
        """The peer messages and requests that opened the sender's running turn (``reply_to_peer``'s choice)."""
        if self.own is not None:
            member = self.own()
        else:
            member = self._supervisor.member_ref(self.sender).get(timeout=self.timeout).proxy()
        targets: list[dict[str, str]] = member.reply_targets().get(timeout=self.timeout)
        return targets

    def peers(self) -> list[dict[str, Any]]:
        peers: list[dict[str, Any]] = self._supervisor.peers_of(self.sender).get(timeout=self.timeout)
        return peers


def peer_tools(router: PeerRouter) -> list[Tool]:
    """``peers``, ``send_message``, ``send_request`` and ``send_response`` bound to one member."""
    me = router.sender

    def peers() -> str:
        """List the peers you are wired to: their names, roles and descriptions."""
        return json.dumps(router.peers())

    def send_message(peer: str, body: str) -> str:
        """Send a message to a wired peer; it arrives as a peer message and wakes them."""
        message_id = router.route(Envelope(sender=me, receiver=peer, kind="message", body=body))
        return f"delivered to {peer} (message {message_id})"

    def send_request(peer: str, intent: str, params: dict[str, Any] | None = None) -> str:
        """Ask a wired peer for something; they answer with send_response quoting the request id."""
        message_id = router.route(Envelope(sender=me, receiver=peer, kind="request", intent=intent,
                                           params=params or {}))
        return f"request {message_id} sent to {peer}"

    def reply_to_peer(body: str, handling_mode: HandlingMode | None = None, reply_to: str | None = None) -> str:
        """Answer the peer message or request that woke you (reply_to: its sender or id, when several peers wrote)."""
        target = _reply_target(router.reply_targets(), reply_to)
        mode: HandlingMode = handling_mode or ("steer" if target["handling_mode"] == "steer" else "queue")
        peer = target["sender"]
        if target["kind"] == "request":
            envelope = Envelope(sender=me, receiver=peer, kind="response", in_reply_to=target["id"],
                                status="completed", body=body, handling_mode=mode)
        else:
            envelope = Envelope(sender=me, receiver=peer, kind="message", body=body, handling_mode=mode)
        message_id = router.route(envelope)
        return f"replied to {peer} (message {message_id})"

    def send_response(peer: str, in_reply_to: str, result: str,
                      status: Literal["accepted", "completed", "failed"] = "completed") -> str:
        """Answer a peer's request (quote its id in in_reply_to)."""
        message_id = router.route(Envelope(sender=me, receiver=peer, kind="response", in_reply_to=in_reply_to,
                                           status=status, body=result))
        return f"response {message_id} sent to {peer}"

    return [_bound(f) for f in (peers, send_message, reply_to_peer, send_request, send_response)]


def _reply_target(targets: list[dict[str, str]], reply_to: str | None) -> dict[str, str]:
    """Which message ``reply_to_peer`` answers: the one named by ``reply_to`` (id or sender), else the only
    sender's latest; typed errors when there is none, several senders, or no such message."""
    if not targets:
        raise NoReplyCapabilityError("reply_to_peer: this turn was not opened by a peer message or request, so "
                                     "there is nobody to reply to; use send_message(peer, body)")
    senders = sorted({t["sender"] for t in targets})
    if reply_to is not None:
        named = [t for t in targets if reply_to in (t["id"], t["sender"])]
        if not named:
            raise UnknownReplyToError(
                f"reply_to_peer: reply_to {reply_to!r} is neither a sender nor a message id of this turn "
                f"(senders: {', '.join(senders)})", details={"reply_to": reply_to, "senders": senders})
        return named[-1]
    if len(senders) > 1:
        raise AmbiguousReplyError(f"reply_to_peer: this turn has messages from {', '.join(senders)}; say which "
                                  "one you answer with reply_to=<sender>", details={"senders": senders})
    return targets[-1]


_TEMPLATES: dict[str, Tool] = {}


def _bound(func: Callable[..., Any]) -> Tool:
    """``make_tool(func)``, reusing the argument model built for the first member: the comms tools have the
    same signature for everyone, and building a pydantic model per tool per member dominated spawn time."""
    template = _TEMPLATES.get(func.__name__)
    if template is None:
        template = _TEMPLATES[func.__name__] = make_tool(func)
    return dataclasses.replace(template, func=func)
