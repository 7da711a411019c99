"""Supervision details: the restart window expires, stale incarnations are fenced off, failed stops are seen."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mobkat.history import UserRow
from mobkat.mob import LiveSettings, Mob, MobDefinition
from mobkat.mob import supervisor as supervisor_module
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor
from mobkat.mob.messages import Envelope
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator, ToolRule
from tests.mob import mob_tools

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
SLOW = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}


@pytest.fixture(autouse=True)
def _reset_tools() -> Iterator[None]:
    mob_tools.reset()
    yield
    mob_tools.GATE.set()


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _team(**profiles: dict[str, Any]) -> MobDefinition:
    return MobDefinition.from_dict({"id": "team", "profiles": profiles})


def _crash(mob: Mob, name: str, after: int) -> str:
    """Crash ``name``; the type of the supervisor's verdict (``member_restarted`` or ``member_broken``)."""
    mob.member(name).crash("injected")
    verdict = mob.wait_for_event(lambda e: e.type in ("member_restarted", "member_broken") and e.get("member") == name,
                                 after=after, timeout=10)
    return verdict.type


def test_restarts_count_only_within_the_window(services: SessionServices) -> None:
    clock = FakeClock()
    fragile = {**TEXT, "restart": {"max_restarts": 2, "within_s": 30}}
    with Mob(_team(fragile=fragile), services=services, clock=clock) as mob:
        mob.spawn("fragile")
        for _ in range(5):  # crashes spaced beyond the window: each one is the first in its window
            assert _crash(mob, "fragile", mob.events_log.latest) == "member_restarted"
            clock.now += 31
        assert mob.member("fragile").info()["generation"] == 5
        assert _crash(mob, "fragile", mob.events_log.latest) == "member_restarted"
        clock.now += 29  # still inside the window of the one before: two restarts in 30 s, the limit
        assert _crash(mob, "fragile", mob.events_log.latest) == "member_restarted"
        clock.now += 2  # the first of the two left the window, the second is 2 s old
        assert _crash(mob, "fragile", mob.events_log.latest) == "member_restarted"
        cursor = mob.events_log.latest
        assert _crash(mob, "fragile", cursor) == "member_broken"  # a third inside 30 s
        broken = mob.wait_for_event(lambda e: e.type == "member_broken", after=cursor, timeout=1)
        assert broken.get("restarts") == 2 and broken.get("within_s") == 30
        assert {m["name"]: m["status"] for m in mob.members()} == {"fragile": "broken"}


def _new_thread(before: set[threading.Thread], prefix: str) -> threading.Thread:
    threads = [t for t in threading.enumerate() if t not in before and t.name.startswith(prefix)]
    assert len(threads) == 1, threads
    return threads[0]


def _wait_not_busy(actor: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    gate = threading.Event()
    while actor.proxy().info().get(timeout=timeout)["busy"]:
        assert time.monotonic() < deadline, "the stale actor's turn did not finish"
        gate.wait(0.02)  # poll interval, bounded by the deadline


def test_reports_from_a_stale_incarnation_are_ignored(services: SessionServices, simulator: Simulator) -> None:
    """An actor of an earlier generation that is still running (its stop failed, or its turn outlived a
    restart) reports with its old fence token: the supervisor must not act on it."""
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    with Mob(_team(worker=SLOW), services=services) as mob:
        mob.spawn("worker")
        gen0 = mob.member("worker").info()
        message_id = mob.send("worker", "slow job one")
        assert mob_tools.ENTERED.wait(10)
        assert _crash(mob, "worker", mob.events_log.latest) == "member_restarted"
        cursor = mob.events_log.latest
        assert [m["queued"] for m in mob.members()] == [1]  # "slow job one" waits for generation 1

        # generation 0, still running: it finishes a turn for the same message and acknowledges it...
        supervisor = mob.member("worker").proxy().supervisor.get(timeout=10)
        identity = MemberIdentity(mob_id="team", role="worker", name="worker", generation=0,
                                  fence_token=gen0["fence_token"])
        before = set(threading.enumerate())
        stale = MemberActor.start(Session.create(services, model="gpt-5.5"), identity, supervisor, mob.events_log,
                                  LiveSettings(open_on_spawn=False), Mailbox())
        thread = _new_thread(before, "MemberActor")
        done = Envelope(sender="operator", receiver="worker", body="done", id=message_id)
        stale.proxy().deliver(done).get(timeout=10)
        _wait_not_busy(stale)
        # ...then crashes
        stale.proxy().crash("stale").get(timeout=10)
        thread.join(10)
        assert not thread.is_alive()

        roster = mob.members()  # the supervisor has read both reports by now (they were told before this ask)
        assert [(m["generation"], m["status"], m["queued"]) for m in roster] == [(1, "active", 1)]
        assert not [e for e in mob.events_log.follow(cursor, timeout=0)
                    if e.type in ("member_restarted", "member_broken")]
        mob_tools.GATE.set()
        mob.wait_idle(20)
        mine = [r for r in mob.member("worker").history() if isinstance(r, UserRow) and r.text == "slow job one"]
        assert len(mine) == 1  # generation 1 still ran it, once


def test_a_failed_stop_is_logged_and_reported(services: SessionServices, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    def stuck_close(self: MemberActor) -> None:
        raise RuntimeError("provider socket stuck")

    release = threading.Event()
    on_stop = MemberActor.on_stop

    def slow_stop(self: MemberActor) -> None:
        release.wait(10)
        on_stop(self)

    caplog.set_level(logging.WARNING, logger="mobkat.mob.supervisor")
    with Mob(_team(a=TEXT, b=TEXT), services=services) as mob:
        mob.spawn("a")
        mob.spawn("b")
        fence = mob.member("a").info()["fence_token"]
        cursor = mob.events_log.latest
        monkeypatch.setattr(MemberActor, "close_live", stuck_close)
        assert mob.retire("a")
        failed = mob.wait_for_event(lambda e: e.type == "member_stop_failed", after=cursor, timeout=10)
        assert (failed.get("member"), failed.get("generation"), failed.get("fence_token"), failed.get("step")) == (
            "a", 0, fence, "close_live")
        assert failed.get("error") == "RuntimeError: provider socket stuck"
        assert "member a (generation 0) failed to close live: RuntimeError: provider socket stuck" in caplog.text
        monkeypatch.undo()

        monkeypatch.setattr(supervisor_module, "STOP_TIMEOUT", 0.2)
        monkeypatch.setattr(MemberActor, "on_stop", slow_stop)
        cursor = mob.events_log.latest
        try:
            assert mob.retire("b")
            failed = mob.wait_for_event(lambda e: e.type == "member_stop_failed", after=cursor, timeout=10)
        finally:
            release.set()
        assert (failed.get("member"), failed.get("step")) == ("b", "stop")
        assert "Timeout" in failed.get("error")
        assert "member b (generation 0) failed to stop" in caplog.text
