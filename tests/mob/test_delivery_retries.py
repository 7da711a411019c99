"""A turn that fails does not drop its messages: they are retried, then dead-lettered with an event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from mobkat.errors import InvalidInputError
from mobkat.history import SystemNoticeRow, UserRow
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.delivery import retry_delay
from mobkat.session import SessionServices
from mobkat.simulator import Simulator

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
# a realtime model's request/response turn runs over a short-lived Realtime connection, which the
# simulator can fail on demand
VOICE = {"model": "gpt-realtime-2", "runtime_mode": "turn_driven", "live": {"open_on_spawn": False}}


@pytest.fixture
def mob(services: SessionServices) -> Iterator[Mob]:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"boss": TEXT, "voice": VOICE}})
    with Mob(definition, services=services) as running:
        running.spawn("boss")
        running.spawn("voice")
        running.wire("boss", "voice")
        yield running


def events(mob: Mob, type: str, after: int) -> list[Any]:
    return [e for e in mob.events_log.after(after) if e.type == type]


def opened_turns(mob: Mob, member: str) -> list[str]:
    texts = [row.text if isinstance(row, UserRow) else row.body or "" for row in mob.member(member).history()
             if isinstance(row, UserRow | SystemNoticeRow)]
    return [text for text in texts if not text.startswith("Mob notice")]


def test_a_failed_turn_is_retried_and_its_message_commits_once(mob: Mob, simulator: Simulator) -> None:
    cursor = mob.events_log.latest
    simulator.send_error("server_error", "scripted outage", close=True)  # the next connection only
    message_id = mob.send_peer("boss", "voice", "are you there")
    mob.wait_idle(20)
    [failed] = events(mob, "turn_failed", cursor)
    assert failed.get("kind") == "provider_error" and failed.get("message_ids") == [message_id]
    # the error event, or (when the member was still seeding as the socket closed) the closed connection
    assert any(why in failed.get("error") for why in ("scripted outage", "realtime connection failed"))
    assert [e.get("text") for e in events(mob, "turn_committed", cursor)] == ["boss says: are you there"]
    assert opened_turns(mob, "voice") == ["Peer message from boss:\nare you there"]
    assert events(mob, "message_dead_lettered", cursor) == []


def test_a_message_whose_turns_keep_failing_is_dead_lettered_with_an_event(
        mob: Mob, simulator: Simulator) -> None:
    cursor = mob.events_log.latest
    simulator.drop_connections_after(0, once=False)  # every connection fails, until cleared
    message_id = mob.send_peer("boss", "voice", "hello?")
    dead = mob.wait_for_event(lambda e: e.type == "message_dead_lettered", after=cursor, timeout=20)
    failures = events(mob, "turn_failed", cursor)
    assert [e.get("message_ids") for e in failures] == [[message_id]] * 3  # three attempts, then no more
    # the member backs off between attempts (0.25 s, then 0.5 s): a failing provider gets time to recover
    at = [datetime.fromisoformat(e.timestamp) for e in failures]
    assert (at[1] - at[0]).total_seconds() >= retry_delay(1) and (at[2] - at[1]).total_seconds() >= retry_delay(2)
    assert dead.to_wire()["kind"] == {
        "type": "message_dead_lettered", "member": "voice", "message_id": message_id, "sender": "boss",
        "receiver": "voice", "kind": "message", "attempts": 3, "reason": failures[-1].get("kind"),
        "error": failures[-1].get("error")}
    mob.wait_idle(10)  # a dead letter is off the books: nothing is pending
    assert opened_turns(mob, "voice") == []
    simulator.clear_faults()
    mob.send("voice", "better now")  # the member is fine; only that message is gone, and said so
    mob.wait_idle(20)
    assert opened_turns(mob, "voice") == ["better now"]
    assert len(events(mob, "turn_failed", cursor)) == 3


def test_delivery_attempts_is_checked(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"boss": TEXT}})
    with pytest.raises(InvalidInputError, match="delivery_attempts must be at least 1"):
        Mob(definition, services=services, delivery_attempts=0)
