"""Member-side tools (issue #15 C): ``reply_to_peer`` and the mob tools of ``tools.mob`` within their limits,
driven by the simulated model's tool rules in an offline mob."""

from __future__ import annotations

from typing import Any

import pytest

from mobkat.errors import ConfigError
from mobkat.history import SystemNoticeRow, ToolResultsRow
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.sim_rules import PEER_RULES
from mobkat.session import SessionServices
from mobkat.simulator import Simulator, ToolRule

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


def _tool_results(mob: Mob, name: str) -> list[tuple[str, bool]]:
    return [(r.content, r.is_error) for row in mob.member(name).history() if isinstance(row, ToolResultsRow)
            for r in row.results]


def _notices(mob: Mob, name: str) -> list[SystemNoticeRow]:
    return [r for r in mob.member(name).history() if isinstance(r, SystemNoticeRow) and r.kind == "comms"]


def test_reply_to_peer_answers_the_message_or_request_that_opened_the_turn(
        services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"^Peer (?:message from \w+:\s*ping|request from)", tool="reply_to_peer",
                                     arguments={"body": "pong"}))
    simulator.add_tool_rule(ToolRule(pattern=r"\breply now\b", tool="reply_to_peer", arguments={"body": "hm"}))
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"a": TEXT, "b": TEXT}})
    with Mob(definition, services=services) as mob:
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        mob.send_peer("a", "b", "ping")
        mob.wait_idle(15)
        replies = [n for n in _notices(mob, "a") if n.body == "Peer message from b:\npong"]
        assert len(replies) == 1  # b's reply reached a, as a peer message

        request_id = mob.send_peer("a", "b", "", kind="request")
        mob.wait_idle(15)
        responses = [n for n in _notices(mob, "a") if n.blocks and n.blocks[0]["kind"] == "response"]
        assert responses and responses[-1].blocks is not None
        assert responses[-1].blocks[0]["request_id"] == request_id  # answered as a response to that request
        assert "Status: completed\nResult: pong" in (responses[-1].body or "")

        mob.send("b", "reply now")  # an operator turn: there is no peer to reply to
        mob.wait_idle(15)
        content, is_error = _tool_results(mob, "b")[-1]
        assert is_error and "nobody to reply to" in content


def _crew(**lead_tools: Any) -> MobDefinition:
    return MobDefinition.from_dict({"id": "crew", "profiles": {
        "lead": {**TEXT, "tools": {"mob": True, **lead_tools}}, "worker": TEXT, "other": TEXT}})


def test_mob_tools_spawn_wire_and_retire_within_the_profile_limits(
        services: SessionServices, simulator: Simulator) -> None:
    for rule in PEER_RULES:
        simulator.add_tool_rule(rule)
    with Mob(_crew(mob_limits={"profiles": ["worker"], "max_spawned": 1}), services=services) as mob:
        mob.spawn("lead")
        mob.spawn("other")
        mob.send("lead", "spawn a worker named w1")
        mob.wait_idle(15)
        w1 = next(m for m in mob.members() if m["name"] == "w1")
        assert w1["role"] == "worker" and w1["labels"] == {"spawned_by": "lead"} and w1["wired_to"] == ["lead"]

        mob.send("lead", "spawn a worker named w2")  # over max_spawned
        mob.wait_idle(15)
        content, is_error = _tool_results(mob, "lead")[-1]
        assert is_error and "max_spawned = 1" in content and "w1" in content
        mob.send("lead", "spawn an other named o1")  # a profile outside mob_limits.profiles
        mob.wait_idle(15)
        content, is_error = _tool_results(mob, "lead")[-1]
        assert is_error and "may not spawn profile 'other'" in content
        assert sorted(m["name"] for m in mob.members()) == ["lead", "other", "w1"]

        mob.send("lead", "wire members w1 and other")
        mob.wait_idle(15)
        assert next(m for m in mob.members() if m["name"] == "other")["wired_to"] == ["w1"]
        mob.send("lead", "retire member lead")  # never itself
        mob.wait_idle(15)
        content, is_error = _tool_results(mob, "lead")[-1]
        assert is_error and "cannot retire itself" in content
        mob.send("lead", "retire member w1")
        mob.wait_idle(15)
        assert sorted(m["name"] for m in mob.members()) == ["lead", "other"]
        mob.send("lead", "spawn a worker named w2")  # room again under max_spawned
        mob.wait_idle(15)
        assert "w2" in [m["name"] for m in mob.members()]
        types = [e.type for e in mob.events_log.after(0)]
        assert types.count("member_spawned") == 4 and types.count("member_retired") == 1


def test_members_without_tools_mob_get_no_mob_tools(services: SessionServices, simulator: Simulator) -> None:
    for rule in PEER_RULES:
        simulator.add_tool_rule(rule)
    with Mob(_crew(), services=services) as mob:
        mob.spawn("other")
        mob.send("other", "spawn a worker named w1")  # the rule applies only where mob_spawn is offered
        mob.wait_idle(15)
        assert [m["name"] for m in mob.members()] == ["other"] and not _tool_results(mob, "other")


def test_mob_limits_must_name_profiles_of_the_mob() -> None:
    with pytest.raises(ConfigError, match=r"profiles\.lead\.tools\.mob_limits\.profiles\[0\].*'ghost'"):
        _crew(mob_limits={"profiles": ["ghost"]})
    with pytest.raises(ConfigError, match="max_spawned"):
        _crew(mob_limits={"max_spawned": -1})


def test_reply_to_peer_picks_the_named_message_and_refuses_ambiguity() -> None:
    """Several peers wrote in one turn (messages coalesce): ``reply_to`` (a sender or id) must say which."""
    from mobkat.errors import AmbiguousReplyError, UnknownReplyToError
    from mobkat.mob.messages import Envelope
    from mobkat.mob.peer_tools import PeerRouter, peer_tools

    class Router(PeerRouter):
        def __init__(self) -> None:
            self.sender, self.sent = "me", []

        def reply_targets(self) -> list[dict[str, str]]:
            return [{"id": "m1", "sender": "a", "kind": "message", "handling_mode": "queue"},
                    {"id": "r2", "sender": "b", "kind": "request", "handling_mode": "steer"}]

        def route(self, envelope: Envelope) -> str:
            self.sent.append(envelope)
            return "id"

    router = Router()
    reply = next(t for t in peer_tools(router) if t.name == "reply_to_peer").func
    with pytest.raises(AmbiguousReplyError, match="messages from a, b"):
        reply(body="hi")
    with pytest.raises(UnknownReplyToError, match="'c' is neither a sender nor a message id"):
        reply(body="hi", reply_to="c")
    assert reply(body="done", reply_to="r2") == "replied to b (message id)"
    sent = router.sent[-1]
    assert (sent.kind, sent.receiver, sent.in_reply_to, sent.status, sent.handling_mode) == (
        "response", "b", "r2", "completed", "steer")  # a request gets a response, in the request's mode
    reply(body="ok", reply_to="a", handling_mode="steer")
    assert (router.sent[-1].kind, router.sent[-1].receiver, router.sent[-1].handling_mode) == ("message", "a", "steer")
