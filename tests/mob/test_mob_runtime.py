"""The mob runtime through its Python API, against the simulator."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobkat.errors import InboxFullError, MemberExistsError, MemberNotFoundError, WiringError
from mobkat.history import BlockAssistantRow, SystemNoticeRow, UserRow
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.sim_rules import PEER_RULES
from mobkat.session import SessionServices
from mobkat.simulator import Simulator, ToolRule
from tests.mob import mob_tools

SEED = """id = "live-demo"

[profiles.host]
model = "gpt-realtime-2"
provider = "openai"
peer_description = "Live audio host"
"""


def team(**profiles: dict[str, Any]) -> MobDefinition:
    return MobDefinition.from_dict({"id": "team", "profiles": profiles})


TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}


@pytest.fixture
def rules(simulator: Simulator) -> Simulator:
    for rule in PEER_RULES:
        simulator.add_tool_rule(rule)
    return simulator


@pytest.fixture(autouse=True)
def _reset_tools() -> Iterator[None]:
    mob_tools.reset()
    yield
    mob_tools.GATE.set()


def start(definition: MobDefinition, services: SessionServices, **kwargs: Any) -> Mob:
    return Mob(definition, services=services, **kwargs).start()


def test_seed_example_spawns_verbatim_and_opens_live(tmp_path: Path, services: SessionServices) -> None:
    path = tmp_path / "seed.toml"
    path.write_text(SEED)
    with Mob(MobDefinition.from_toml(path), services=services) as mob:
        assert mob.spawn_members() == ["host"]
        opened = mob.wait_for_event(lambda e: e.type == "live_opened", timeout=15)
        assert opened.get("member") == "host"
        host = mob.member("host")
        assert host.live.status().status == "ready"
        assert host.info()["generation"] == 0
        assert [type(r) for r in host.history()] == [UserRow, BlockAssistantRow]  # the kickoff turn


def test_wiring_rules_and_refusals(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({
        "id": "team", "orchestrator": {"profile": "lead"},
        "profiles": {"lead": TEXT, "worker": TEXT, "solo": {**TEXT, "tools": {"comms": False}}},
        "wiring": {"auto_wire_orchestrator": True},
    })
    with start(definition, services) as mob:
        mob.spawn("lead")
        mob.spawn("worker", "w1")
        mob.spawn("worker", "w2")
        mob.spawn("solo")
        roster = {m["name"]: m["wired_to"] for m in mob.members()}
        assert roster == {"lead": ["w1", "w2"], "w1": ["lead"], "w2": ["lead"], "solo": []}
        with pytest.raises(WiringError, match="w1 and w2 are not wired"):
            mob.send_peer("w1", "w2", "psst")
        with pytest.raises(WiringError, match="itself"):
            mob.wire("w1", "w1")
        with pytest.raises(WiringError, match="comms = false"):
            mob.wire("w1", "solo")
        with pytest.raises(MemberNotFoundError, match="ghost"):
            mob.wire("w1", "ghost")
        with pytest.raises(MemberExistsError, match="w1"):
            mob.spawn("worker", "w1")
        assert mob.wire("w1", "w2") is True and mob.wire("w2", "w1") is False  # idempotent
        mob.send_peer("w1", "w2", "now we can talk")
        assert mob.unwire("w1", "w2") is True
        wired = [e for e in mob.events_log.after(0) if e.type == "members_wired"]
        assert len(wired) == 3


def test_peer_message_lands_as_typed_notice_and_wakes_a_turn(services: SessionServices) -> None:
    definition = team(a=TEXT, b=TEXT)
    with start(definition, services) as mob:
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        mob.send_peer("a", "b", "hello b")
        mob.wait_idle(10)
        notice, reply = mob.member("b").history()[-2:]
        assert isinstance(notice, SystemNoticeRow) and notice.kind == "comms"
        assert notice.body == "Peer message from a:\nhello b"
        assert notice.blocks and notice.blocks[0]["peer"] == {"id": "a", "display_name": "a"}
        assert isinstance(reply, BlockAssistantRow) and reply.text == "a says: hello b"


def test_models_relay_through_peer_tools(services: SessionServices, rules: Simulator) -> None:
    definition = team(asker=TEXT, expert={**TEXT, "peer_description": "knows things"})
    with start(definition, services) as mob:
        mob.spawn("asker")
        mob.spawn("expert")
        mob.wire("asker", "expert")
        mob.send("asker", "ask the expert: why is the sky blue?")
        mob.wait_idle(15)
        mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == "asker"
                           and "expert says" in (e.get("text") or ""), timeout=15)
        texts = [r.text for r in mob.member("expert").history() if isinstance(r, BlockAssistantRow)]
        assert any("send_message returned: delivered to asker" in t for t in texts)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.integers(0, 99), min_size=1, max_size=6), min_size=2, max_size=3))
def test_per_sender_order_is_kept_under_concurrency(services: SessionServices, plan: list[list[int]]) -> None:
    senders = [f"s{i}" for i in range(len(plan))]
    definition = team(sender=TEXT, receiver=TEXT)
    with start(definition, services) as mob:
        mob.spawn("receiver", "inbox")
        for name in senders:
            mob.spawn("sender", name)
            mob.wire(name, "inbox")
        barrier = threading.Barrier(len(senders))

        def send_all(name: str, numbers: list[int]) -> None:
            barrier.wait(5)
            for index, number in enumerate(numbers):
                mob.send_peer(name, "inbox", f"{name}#{index}:{number}")

        threads = [threading.Thread(target=send_all, args=(n, p)) for n, p in zip(senders, plan, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        mob.wait_idle(30)
        bodies = [r.body.split("\n", 1)[1] for r in mob.member("inbox").history()
                  if isinstance(r, SystemNoticeRow) and r.body and r.body.startswith("Peer message")]
        for name, numbers in zip(senders, plan, strict=True):
            mine = [b for b in bodies if b.startswith(f"{name}#")]
            assert mine == [f"{name}#{i}:{n}" for i, n in enumerate(numbers)]


def test_member_killed_mid_turn_restarts_with_history_and_gets_its_messages(
        services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    worker = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
    with start(team(boss=TEXT, worker=worker), services) as mob:
        mob.spawn("boss")
        mob.spawn("worker")
        mob.wire("boss", "worker")
        mob.send("worker", "remember the codeword amber lantern")
        mob.wait_idle(10)
        before = mob.member("worker").history()
        mob.send_peer("boss", "worker", "slow job one")
        assert mob_tools.ENTERED.wait(10)
        cursor = mob.events_log.latest
        mob.member("worker").crash("injected")
        restarted = mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=10)
        assert restarted.get("generation") == 1
        mob.send_peer("boss", "worker", "and one more thing")  # sent while/after restarting: still delivered
        mob_tools.GATE.set()
        mob.wait_idle(20)
        history = mob.member("worker").history()
        assert history[:len(before)] == before  # committed history intact
        notices = [r.body for r in history if isinstance(r, SystemNoticeRow) and r.body.startswith("Peer")]
        assert notices.count("Peer message from boss:\nslow job one") == 1  # redelivered once, committed once
        assert "Peer message from boss:\nand one more thing" in notices
        assert mob.member("worker").info()["generation"] == 1
        recall = mob.member("worker").session().run_turn("what codeword did I ask you to remember?")
        assert recall.text == "You asked me to remember: amber lantern."


def test_restart_limit_marks_member_broken_and_mob_keeps_running(services: SessionServices) -> None:
    fragile = {**TEXT, "restart": {"max_restarts": 1, "within_s": 60}}
    with start(team(fragile=fragile, steady=TEXT), services) as mob:
        mob.spawn("fragile")
        mob.spawn("steady")
        mob.wire("fragile", "steady")
        mob.member("fragile").crash("first")
        mob.wait_for_event(lambda e: e.type == "member_restarted", timeout=10)
        mob.member("fragile").crash("second")
        broken = mob.wait_for_event(lambda e: e.type == "member_broken", timeout=10)
        assert broken.get("member") == "fragile"
        status = {m["name"]: m["status"] for m in mob.members()}
        assert status == {"fragile": "broken", "steady": "active"}
        mob.send("steady", "still here?")
        mob.wait_idle(10)
        assert mob.member("steady").history()[-1].text == "You said: still here?"


def test_slow_member_does_not_delay_routing_between_others(services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    slow = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
    with start(team(slow=slow, a=TEXT, b=TEXT), services) as mob:
        for name in ("slow", "a", "b"):
            mob.spawn(name)
        mob.wire("slow", "a")
        mob.wire("a", "b")
        mob.send_peer("a", "slow", "slow job forever")
        assert mob_tools.ENTERED.wait(10)
        cursor = mob.events_log.latest
        mob.send_peer("a", "b", "quick question")
        done = mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == "b",
                                  after=cursor, timeout=5)
        assert done.get("text") == "a says: quick question"
        assert not mob_tools.GATE.is_set()  # the slow member is still stuck in its turn
        mob_tools.GATE.set()


def test_peer_message_into_a_live_member_reaches_conversation_and_history(services: SessionServices) -> None:
    definition = team(host={"model": "gpt-realtime-2", "runtime_mode": "turn_driven"}, helper=TEXT)
    with start(definition, services) as mob:
        mob.spawn("host")
        mob.spawn("helper")
        mob.wire("host", "helper")
        mob.wait_for_event(lambda e: e.type == "live_opened", timeout=15)
        cursor = mob.events_log.latest
        mob.send_peer("helper", "host", "the package arrived")
        mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("source") == "live", after=cursor,
                           timeout=10)
        notice, reply = mob.member("host").history()[-2:]
        assert isinstance(notice, SystemNoticeRow) and notice.body == "Peer message from helper:\nthe package arrived"
        assert isinstance(reply, BlockAssistantRow)
        assert reply.blocks[-1].block_type == "transcript" and reply.text == "helper says: the package arrived"


def test_events_resume_after_a_cursor_without_gaps(services: SessionServices) -> None:
    with start(team(a=TEXT, b=TEXT), services) as mob:
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        for i in range(3):
            mob.send_peer("a", "b", f"m{i}")
        mob.wait_idle(10)
        everything = mob.events_log.after(0)
        assert [e.cursor for e in everything] == list(range(1, len(everything) + 1))
        middle = everything[len(everything) // 2].cursor
        resumed = list(mob.events(after=middle, timeout=0.2))
        assert [e.cursor for e in resumed] == list(range(middle + 1, everything[-1].cursor + 1))
        assert {"member_spawned", "members_wired", "peer_message_routed", "turn_committed"} <= {
            e.type for e in everything}


def test_retire_and_respawn(services: SessionServices) -> None:
    with start(team(a=TEXT, b=TEXT), services) as mob:
        mob.spawn("a")
        mob.spawn("b")
        mob.wire("a", "b")
        mob.send("b", "first life")
        mob.wait_idle(10)
        view = mob.respawn("b")
        assert view["generation"] == 1 and view["wired_to"] == ["a"]
        assert mob.member("b").history() == []  # a fresh session for the new incarnation
        assert mob.retire("b") is True and mob.retire("b") is False
        assert [m["name"] for m in mob.members()] == ["a"]
        assert any(e.type == "member_retired" for e in mob.events_log.after(0))


def test_stop_leaves_no_threads_sockets_or_tasks(no_thread_leaks: None) -> None:
    definition = MobDefinition.from_toml(Path(__file__).parents[2] / "mobs" / "live-demo.toml")
    mob = Mob(definition, simulator=True).start()
    mob.spawn_members()
    mob.wait_for_event(lambda e: e.type == "live_opened", timeout=15)
    simulator = mob.simulator
    assert simulator is not None
    mob.stop()
    assert not mob.services.runtime.running
    assert not simulator.running
    assert simulator.stats.open_connections == 0


def test_full_inbox_is_a_typed_error_to_the_sender(services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    slow = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
    with start(team(slow=slow, a=TEXT), services, inbox_capacity=2, inbox_wait_s=0.2) as mob:  # waits 0.2 s
        mob.spawn("slow")
        mob.spawn("a")
        mob.wire("a", "slow")
        mob.send_peer("a", "slow", "slow job first")
        assert mob_tools.ENTERED.wait(10)
        mob.send_peer("a", "slow", "second")  # two waiting: the inbox is now full
        with pytest.raises(InboxFullError, match=r"inbox of slow is full .*waited 0\.2 s for room"):
            mob.send_peer("a", "slow", "third")
        assert any(e.type == "peer_message_rejected" and e.get("reason") == "inbox_full"
                   for e in mob.events_log.after(0))
        mob_tools.GATE.set()
        mob.wait_idle(20)
        mob.send_peer("a", "slow", "room again")  # consumed messages free the inbox


def test_async_event_iteration(services: SessionServices) -> None:
    with start(team(a=TEXT), services) as mob:
        mob.spawn("a")
        mob.send("a", "hello")
        mob.wait_idle(10)

        async def collect() -> list[str]:
            return [e.type async for e in mob.aevents(after=0, timeout=0.2)]

        types = asyncio.run(collect())
        assert types[0] == "mob_started" and "turn_committed" in types
