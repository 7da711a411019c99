"""Fire-and-forget peer routing (``Mob.send_peer_nowait``) and the event log's cheap, bounded append."""

from __future__ import annotations

import pytest

from mobkat.errors import InvalidInputError
from mobkat.history import SystemNoticeRow
from mobkat.mob import EventLog, Mob, MobDefinition
from mobkat.session import SessionServices

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


def test_nowait_delivers_and_refusals_become_events(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"a": TEXT, "b": TEXT, "c": TEXT}})
    with Mob(definition, services=services) as mob:
        for name in ("a", "b", "c"):
            mob.spawn(name)
        mob.wire("a", "b")
        sent = mob.send_peer_nowait("a", "b", "hello b")
        unwired = mob.send_peer_nowait("a", "c", "psst")
        ghost = mob.send_peer_nowait("a", "ghost", "anyone?")
        mob.wait_idle(10)
        events = mob.events_log.after(0)
        routed = [e for e in events if e.type == "peer_message_routed"]
        assert [e.get("message_id") for e in routed] == [sent]
        rejected = {e.get("message_id"): e for e in events if e.type == "peer_message_rejected"}
        assert rejected[unwired].get("reason") == "not_wired" and "not wired" in rejected[unwired].get("error")
        assert rejected[ghost].get("reason") == "not_found" and "'ghost' not found" in rejected[ghost].get("error")
        notices = [r.body for r in mob.member("b").history() if isinstance(r, SystemNoticeRow)]
        assert "Peer message from a:\nhello b" in notices
        assert mob.send_peer("a", "b", "still routing") != sent  # the supervisor survived the refusals
        assert len({sent, unwired, ghost}) == 3 and all(len(i) == 32 for i in (sent, unwired, ghost))


def test_event_log_keeps_at_least_capacity_and_refuses_stale_cursors() -> None:
    log = EventLog("m", capacity=10)
    cursors = [log.append("turn_committed", member="x", n=i) for i in range(100)]
    assert cursors == list(range(1, 101))
    assert log.latest == 100
    kept = log.after(90)  # the newest `capacity` events are always there
    assert [e.cursor for e in kept] == list(range(91, 101)) and kept[-1].get("n") == 99
    assert kept[0].mob_id == "m" and kept[0].timestamp.endswith("Z")
    with pytest.raises(InvalidInputError, match="older than the oldest kept event"):
        log.after(50)
    assert [e.cursor for e in log.after(95, limit=2)] == [96, 97]
    with pytest.raises(InvalidInputError, match="not a mob event type"):
        log.append("no_such_event")  # type: ignore[arg-type]
