"""Member calls over a running mob (mobkat.mob.member_ops): force-cancel of a running turn, kickoff waits,
system context (issue #15 C)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mobkat.errors import MemberNotFoundError, MemberWaitTimedOutError
from mobkat.history import SystemRow, UserRow
from mobkat.mob import Mob, MobDefinition, member_ops
from mobkat.session import SessionServices
from mobkat.simulator import Simulator, ToolRule
from tests.mob import mob_tools

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
SLOW = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}


@pytest.fixture(autouse=True)
def _reset_tools() -> Iterator[None]:
    mob_tools.reset()
    yield
    mob_tools.GATE.set()


def test_force_cancel_ends_the_running_turn_and_the_member_goes_on(
        services: SessionServices, simulator: Simulator) -> None:
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"w": SLOW}})
    with Mob(definition, services=services) as mob:
        mob.spawn("w")
        assert member_ops.force_cancel(mob, "w") is False  # idle: nothing to cancel
        stuck = mob.send("w", "slow job one")
        assert mob_tools.ENTERED.wait(10)
        cursor = mob.events_log.latest
        assert member_ops.force_cancel(mob, "w") is True
        cancelled = mob.wait_for_event(lambda e: e.type == "turn_cancelled", after=cursor, timeout=10)
        assert cancelled.get("message_ids") == [stuck] and cancelled.get("member") == "w"
        mob_tools.GATE.set()  # the tool thread finishes; its turn is gone and commits nothing
        mob.send("w", "and now something quick")
        mob.wait_idle(15)  # the cancelled message counts as consumed: it is not retried
        users = [r.content for r in mob.member("w").history() if isinstance(r, UserRow)]
        assert users == ["and now something quick"]
        assert [m["status"] for m in mob.members()] == ["active"]
        with pytest.raises(MemberNotFoundError):
            member_ops.force_cancel(mob, "ghost")


def test_kickoff_waits_follow_the_first_turn(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"auto": {"model": "gpt-5.5"}, "td": TEXT}})
    with Mob(definition, services=services) as mob:
        mob.spawn("auto")
        mob.spawn("td")
        rows = member_ops.wait_kickoff(mob, timeout_s=20)
        assert {r["agent_identity"]: r.get("kickoff") for r in rows} == {"auto": {"phase": "started"}, "td": None}
        assert member_ops.kickoff_phases(mob) == {"auto": "started"}
        with pytest.raises(MemberWaitTimedOutError, match=r"member ready wait timed out .*ghost"):
            member_ops.wait_ready(mob, ["ghost"], timeout_s=0.1)


def test_system_context_lands_in_history_before_the_next_turn(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"td": TEXT}})
    with Mob(definition, services=services) as mob:
        mob.spawn("td")
        assert member_ops.append_system_context(mob, "td", "Prefer metric units.", idempotency_key="u") == "applied"
        assert member_ops.append_system_context(mob, "td", "Prefer metric units.", idempotency_key="u") == "duplicate"
        assert member_ops.append_system_context(mob, "td", "No key: always appended.") == "applied"
        mob.send("td", "how tall is it")
        mob.wait_idle(15)
        history = mob.member("td").history()
        assert [r.content for r in history if isinstance(r, SystemRow)] == [
            "Prefer metric units.", "No key: always appended."]
        assert isinstance(history[2], UserRow)  # both before the turn that follows
