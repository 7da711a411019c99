"""The mob lifecycle through the Python API: stop, resume, complete, reset, destroy; each with its event; an
illegal transition is a typed error naming the current state; mutations need a Running mob."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.errors import InvalidTransitionError, MobError
from mobkat.mob import Mob, MobDefinition
from mobkat.session import SessionServices

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


def _team() -> MobDefinition:
    return MobDefinition.from_dict({"id": "team", "profiles": {"a": TEXT, "b": TEXT}})


def _say(mob: Mob, name: str, text: str) -> None:
    after = mob.events_log.latest
    mob.send(name, text)
    mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == name, after=after, timeout=15)


def _types(mob: Mob, after: int) -> list[str]:
    return [event.type for event in mob.events_log.after(after)]


def test_stop_then_resume_brings_members_back_on_their_sessions(services: SessionServices) -> None:
    with Mob(_team(), services=services) as mob:
        assert mob.state == "Running"
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        _say(mob, "a", "hello")
        before = {m["name"]: m for m in mob.members()}
        mark = mob.events_log.latest
        assert mob.lifecycle("stop") == "Stopped"
        assert _types(mob, mark)[-1] == "mob_stopped"
        stopped = {m["name"]: m for m in mob.members()}  # the stored roster stays readable
        assert {n: (m["session_id"], m["wired_to"]) for n, m in stopped.items()} == {
            n: (m["session_id"], m["wired_to"]) for n, m in before.items()}
        for refused in (lambda: mob.spawn("a", "a2"), lambda: mob.send("a", "x"), lambda: mob.wire("a", "b")):
            with pytest.raises(InvalidTransitionError, match="mob team is Stopped") as error:
                refused()
            assert error.value.details["state"] == "Stopped" and error.value.code == "invalid_transition"
        with pytest.raises(InvalidTransitionError, match=r"invalid state transition: Stopped -> Stopped"):
            mob.lifecycle("stop")
        mark = mob.events_log.latest
        assert mob.lifecycle("resume") == "Running"
        restored = [e for e in mob.events_log.after(mark) if e.type == "member_restored"]
        assert sorted((e.get("member"), e.get("generation"), e.get("reason")) for e in restored) == [
            ("a", 1, "resume"), ("b", 1, "resume")]
        assert _types(mob, mark)[-1] == "mob_resumed"
        after = {m["name"]: m for m in mob.members()}
        assert after["a"]["session_id"] == before["a"]["session_id"] and after["a"]["wired_to"] == ["b"]
        _say(mob, "a", "again")  # the restored member runs turns on its old session
        rows = mob.member("a").history()
        assert [row.content for row in rows if row.role == "user"] == ["hello", "again"]


def test_complete_reset_destroy_and_illegal_transitions(services: SessionServices) -> None:
    mob = Mob(_team(), services=services).start()
    try:
        mob.spawn("a")
        session_id = mob.members()[0]["session_id"]
        mark = mob.events_log.latest
        assert mob.lifecycle("complete") == "Completed"
        assert _types(mob, mark) == ["member_retired", "mob_completed"]
        assert mob.members() == []
        assert services.store.get_session(session_id).archived  # type: ignore[union-attr]
        with pytest.raises(InvalidTransitionError, match=r"Completed -> Running \(mob team is Completed; resume is "
                                                         r"allowed only from Stopped\)") as error:
            mob.lifecycle("resume")
        assert error.value.details == {"mob_id": "team", "state": "Completed", "action": "resume",
                                       "allowed_from": ["Stopped"]}
        with pytest.raises(InvalidTransitionError, match="Completed"):
            mob.lifecycle("stop")
        assert mob.lifecycle("reset") == "Running" and mob.epoch == 1
        mob.spawn("a")  # usable again; a new session
        assert mob.members()[0]["session_id"] != session_id
        mob.lifecycle("stop")
        mark = mob.events_log.latest
        assert mob.lifecycle("reset") == "Running"  # from Stopped too: the stored roster is retired
        assert _types(mob, mark) == ["member_retired", "mob_reset"] and mob.members() == []
        assert mob.lifecycle("destroy") == "Destroyed"
        assert mob.events_log.after(0)[-2].type == "mob_destroyed"  # then the actors stop (mob_shutdown)
        with pytest.raises(MobError, match="not running"):
            mob.lifecycle("reset")
    finally:
        mob.stop()


def test_destroy_deletes_the_records_of_a_stored_mob(tmp_path: Path) -> None:
    with Mob(_team(), simulator=True, state_root=tmp_path) as mob:
        mob.spawn("a")
        mob.lifecycle("destroy")
    with pytest.raises(MobError, match="mob not found: team"):
        Mob.open("team", state_root=tmp_path)
