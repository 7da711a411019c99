"""A full inbox makes the sender wait, bounded, for room (issue #15 C): delivered once the member consumes
a message, else the typed ``InboxFullError`` after ``inbox_wait_s``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from mobkat.errors import InboxFullError, InvalidInputError
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.events import MobEvent
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.session import SessionServices
from mobkat.simulator import Simulator, ToolRule
from tests.mob import mob_tools

SLOW = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}


@pytest.fixture(autouse=True)
def _reset_tools() -> Iterator[None]:
    mob_tools.reset()
    yield
    mob_tools.GATE.set()


def _busy_mob(services: SessionServices, simulator: Simulator, wait_s: float) -> Mob:
    """A mob whose one member ``w`` has an inbox of one message and blocks in a tool on "slow job"."""
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"w": SLOW, "peer": SLOW}})
    return Mob(definition, services=services, inbox_capacity=1, inbox_wait_s=wait_s)


def _full(event: MobEvent) -> bool:
    return event.type == "peer_message_rejected" and event.get("reason") == "inbox_full"


def test_a_sender_waits_for_room_and_is_delivered(services: SessionServices, simulator: Simulator) -> None:
    with _busy_mob(services, simulator, wait_s=20.0) as mob:
        mob.spawn("w")
        mob.spawn("peer")
        mob.wire("peer", "w")
        mob.send("w", "slow job one")
        assert mob_tools.ENTERED.wait(10)  # w's turn runs; its message is not consumed until it commits
        cursor = mob.events_log.latest
        outcome: dict[str, object] = {}

        def send() -> None:
            try:
                outcome["id"] = mob.send_peer("peer", "w", "are you there")
            except Exception as exc:  # recorded for the assertion below
                outcome["error"] = exc

        sender = threading.Thread(target=send)
        sender.start()
        mob.wait_for_event(_full, after=cursor, timeout=10)  # the first try found the inbox full...
        assert sender.is_alive() and not outcome  # ...and the sender waits instead of failing
        mob_tools.GATE.set()  # the turn commits: its message is consumed, room appears
        sender.join(15)
        assert not sender.is_alive() and "error" not in outcome
        routed = mob.wait_for_event(lambda e: e.type == "peer_message_routed" and e.get("sender") == "peer",
                                    after=cursor, timeout=10)
        assert routed.get("message_id") == outcome["id"]
        mob.wait_idle(15)
        assert any("are you there" in (getattr(r, "body", None) or "") for r in mob.member("w").history())


def test_a_sender_gets_the_typed_refusal_after_the_bound(services: SessionServices, simulator: Simulator) -> None:
    with _busy_mob(services, simulator, wait_s=0.3) as mob:
        mob.spawn("w")
        mob.send("w", "slow job one")
        assert mob_tools.ENTERED.wait(10)
        started = time.monotonic()
        with pytest.raises(InboxFullError, match=r"inbox of w is full .*waited 0\.3 s for room") as caught:
            mob.send("w", "one more")
        assert time.monotonic() - started >= 0.3
        assert caught.value.details["waited_s"] == 0.3 and caught.value.code == "inbox_full"
        mob_tools.GATE.set()
        mob.wait_idle(15)
        assert mob.send("w", "now there is room")  # delivered at once


def test_the_bound_must_not_be_negative() -> None:
    with pytest.raises(InvalidInputError, match="inbox_wait_s must be 0 or more"):
        InboxRoom(-1)
    room = InboxRoom(0)  # 0: refuse at once, as before
    calls: list[str] = []

    def full(envelope: object) -> str:
        calls.append("try")
        raise InboxFullError("the inbox of w is full")

    from mobkat.mob.messages import Envelope
    with pytest.raises(InboxFullError, match="waited 0 s"):
        room.route(full, Envelope(sender="a", receiver="w"))
    assert calls == ["try"]


def test_a_members_comms_tool_waits_for_room_too(services: SessionServices, simulator: Simulator) -> None:
    """A model's ``send_message`` to a full inbox waits (within its tool timeout), then is delivered."""
    from mobkat.mob.sim_rules import PEER_RULES

    for rule in PEER_RULES:
        simulator.add_tool_rule(rule)
    with _busy_mob(services, simulator, wait_s=20.0) as mob:
        mob.spawn("w")
        mob.spawn("peer")
        mob.wire("peer", "w")
        mob.send("w", "slow job one")
        assert mob_tools.ENTERED.wait(10)
        cursor = mob.events_log.latest
        mob.send("peer", "ask the w: are you there")  # peer's model calls send_message(peer="w", ...)
        mob.wait_for_event(_full, after=cursor, timeout=10)  # its first try found w's inbox full
        mob_tools.GATE.set()
        routed = mob.wait_for_event(lambda e: e.type == "peer_message_routed" and e.get("sender") == "peer",
                                    after=cursor, timeout=15)
        assert routed.get("receiver") == "w"
        mob.wait_idle(20)
        results = [r.content for row in mob.member("peer").history() if hasattr(row, "results")
                   for r in row.results]
        assert any(text.startswith("delivered to w") for text in results)
