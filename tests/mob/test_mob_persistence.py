"""A mob with a state root outlives its process: ``Mob.open(mob_id, state_root=...)`` restores its state,
members (on their sessions, generation + 1), wiring and events (the cursor continues)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobkat.errors import InvalidInputError, MobNotFoundError
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.events import EventLog

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


def _team() -> MobDefinition:
    return MobDefinition.from_dict({"id": "team", "profiles": {"a": TEXT, "b": TEXT}})


def _say(mob: Mob, name: str, text: str) -> None:
    after = mob.events_log.latest
    mob.send(name, text)
    mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == name, after=after, timeout=15)


def test_reopen_restores_members_wiring_and_events(tmp_path: Path) -> None:
    with Mob(_team(), simulator=True, state_root=tmp_path) as mob:
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        _say(mob, "a", "hello")
        before = {m["name"]: m for m in mob.members()}
        old_events = [e.to_wire() for e in mob.events_log.after(0)]
    assert (tmp_path / "team" / "mobs.db").is_file()

    with Mob.open("team", state_root=tmp_path, simulator=True) as again:
        assert again.state == "Running"
        events = again.events_log.after(0)
        assert [e.to_wire() for e in events[:len(old_events)]] == old_events  # the log as it was, cursors kept
        shutdown, *new = events[len(old_events):]
        assert shutdown.type == "mob_shutdown"  # a process stop keeps the state (Running) for the next start
        assert new[0].type == "mob_restored" and new[0].cursor == shutdown.cursor + 1
        assert new[0].get("previous_cursor") == shutdown.cursor and new[0].get("members") == ["a", "b"]
        restored = {e.get("member"): e for e in new if e.type == "member_restored"}
        assert {n: (e.get("generation"), e.get("session_id"), e.get("reason")) for n, e in restored.items()} == {
            n: (m["generation"] + 1, m["session_id"], "restart") for n, m in before.items()}
        after = {m["name"]: m for m in again.members()}
        assert {n: (m["session_id"], m["wired_to"], m["generation"]) for n, m in after.items()} == {
            n: (m["session_id"], m["wired_to"], m["generation"] + 1) for n, m in before.items()}
        _say(again, "a", "after the restart")
        assert [r.content for r in again.member("a").history() if r.role == "user"] == ["hello", "after the restart"]
        again.lifecycle("stop")

    with Mob.open("team", state_root=tmp_path, simulator=True) as stopped:  # a Stopped mob stays Stopped
        assert stopped.state == "Stopped"
        assert [m["name"] for m in stopped.members()] == ["a", "b"]
        last = stopped.events_log.after(stopped.events_log.latest - 1)
        assert [(e.type, e.get("state")) for e in last] == [("mob_restored", "Stopped")]  # no member came back
        stopped.lifecycle("resume")
        assert {m["name"]: m["generation"] for m in stopped.members()} == {"a": 2, "b": 2}


def test_open_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(MobNotFoundError, match="mob not found: team"):
        Mob.open("team", state_root=tmp_path)
    with pytest.raises(InvalidInputError, match="not a valid identifier"):
        Mob.open("../etc", state_root=tmp_path)


def test_a_fresh_mob_forgets_the_stored_roster(tmp_path: Path) -> None:
    with Mob(_team(), simulator=True, state_root=tmp_path) as mob:
        mob.spawn("a")
    with Mob(_team(), simulator=True, state_root=tmp_path, fresh=True) as mob:
        assert mob.members() == [] and [e.type for e in mob.events_log.after(0)] == ["mob_started"]


def test_a_preloaded_log_continues_its_cursors_without_a_gap() -> None:
    log = EventLog("team")
    log.preload([(1, 1.0, "mob_started", {}), (3, 3.0, "member_spawned", {"member": "a"}),
                 (4, 4.0, "members_wired", {"a": "a", "b": "b"})])  # 2 was never stored
    assert [e.cursor for e in log.after(2)] == [3, 4]  # only the newest run without a gap is kept
    assert log.append("mob_restored", previous_cursor=4) == 5
    with pytest.raises(InvalidInputError, match="only for an empty log"):
        log.preload([])
