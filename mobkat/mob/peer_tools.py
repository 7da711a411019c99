"""The built-in comms tools a member's model uses to reach its peers (all routed by the supervisor)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, Literal

import pykka

from mobkat.mob.messages import Envelope
from mobkat.session.tools import Tool, make_tool

ROUTE_TIMEOUT = 10.0

COMMS_SKILL = (
    "You are a member of a team (a mob). Discover your peers with peers(); message a peer with "
    "send_message(peer, body); ask for something specific with send_request and answer requests with "
    "send_response. Notices about peers joining or leaving are context only: do not reply to them."
)


class PeerRouter:
    """What a member's comms tools call: the supervisor, with a deadline on every ask.

    Takes the supervisor's ref or an existing proxy (building a pykka proxy introspects the actor, which
    costs about a millisecond: the supervisor shares one proxy between all its members' routers).
    """

    def __init__(self, supervisor: pykka.ActorRef[Any] | pykka.ActorProxy[Any], sender: str,
                 timeout: float = ROUTE_TIMEOUT) -> None:
        self._supervisor = supervisor.proxy() if isinstance(supervisor, pykka.ActorRef) else supervisor
        self.sender = sender
        self.timeout = timeout

    def route(self, envelope: Envelope) -> str:
        message_id: str = self._supervisor.route(envelope).get(timeout=self.timeout)
        return message_id

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

    def send_response(peer: str, in_reply_to: str, result: str,
                      status: Literal["accepted", "completed", "failed"] = "completed") -> str:
        """Answer a peer's request (quote its id in in_reply_to)."""
        message_id = router.route(Envelope(sender=me, receiver=peer, kind="response", in_reply_to=in_reply_to,
                                           status=status, body=result))
        return f"response {message_id} sent to {peer}"

    return [_bound(f) for f in (peers, send_message, send_request, send_response)]


_TEMPLATES: dict[str, Tool] = {}


def _bound(func: Callable[..., Any]) -> Tool:
    """``make_tool(func)``, reusing the argument model built for the first member: the comms tools have the
    same signature for everyone, and building a pydantic model per tool per member dominated spawn time."""
    template = _TEMPLATES.get(func.__name__)
    if template is None:
        template = _TEMPLATES[func.__name__] = make_tool(func)
    return dataclasses.replace(template, func=func)
