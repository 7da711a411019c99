"""A member that crashes while its turn commits: the message it was answering commits exactly once.

The regression (issue #11): the turn's messages were acknowledged by a separate actor message
(``_TurnDone``) after the commit, and the crash was reported at once. A crash landing between the
commit and that acknowledgement lost the acknowledgement, the supervisor redelivered the message to the
restarted member, and the turn ran, and committed, a second time. Under CPU contention the mob state
machine hit it in 2 runs of 3. Here a store hook forces that interleaving on every run: it crashes the
member from inside the commit and lets the commit finish only once the actor is dead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pytest

from mobkat.config import MobkatConfig
from mobkat.history import HistoryRow, SystemNoticeRow, UserRow
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.links import consumed_message_ids
from mobkat.mob.messages import Envelope
from mobkat.session import SessionServices
from mobkat.simulator import Simulator, ToolRule
from mobkat.store import CommittedTurn, SessionMeta, SqliteSessionStore
from tests.mob import mob_tools

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
Where = Literal["inside", "after"]


class HookedStore(SqliteSessionStore):
    """The SQLite store, with a one-shot hook on one session's next commit, run on the committing thread:
    ``inside`` the transaction before ``COMMIT`` (the store's test hook), or ``after`` it returned."""

    def __init__(self, path: Path) -> None:
        self.hook: tuple[str, Where, Callable[[], None]] | None = None
        super().__init__(path, _before_commit=lambda session_id, _index: self._fire(session_id, "inside"))

    def commit_turn(self, session_id: str, rows: Sequence[HistoryRow], *, meta: SessionMeta | None = None,
                    turn_id: str | None = None) -> CommittedTurn:
        done = super().commit_turn(session_id, rows, meta=meta, turn_id=turn_id)
        self._fire(session_id, "after")
        return done

    def _fire(self, session_id: str, where: Where) -> None:
        hook = self.hook
        if hook is not None and hook[:2] == (session_id, where):
            self.hook = None
            hook[2]()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HookedStore]:
    hooked = HookedStore(tmp_path / "sessions.db")
    yield hooked
    hooked.close()


@pytest.fixture
def mob(store: HookedStore, simulator: Simulator) -> Iterator[Mob]:
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    mob_tools.reset()
    services = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url).start()
    worker = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"boss": TEXT, "worker": worker}})
    try:
        with Mob(definition, services=services) as running:
            running.spawn("boss")
            running.spawn("worker")
            running.wire("boss", "worker")
            yield running
    finally:
        mob_tools.GATE.set()
        services.close()


def crash_while_committing(mob: Mob, store: HookedStore, where: Where) -> None:
    """Arm the hook: on the worker's next commit, crash it and hold the commit until its actor is dead."""
    worker = mob.member("worker")
    ref = worker.ref

    def crash() -> None:
        worker.crash("crashed while its turn committed")
        assert ref.actor_stopped.wait(10), "the crash was not processed"

    store.hook = (worker.info()["session_id"], where, crash)


def inputs(rows: list[HistoryRow]) -> list[str]:
    """What opened turns: operator input and peer messages (not wiring notices)."""
    texts = [row.text if isinstance(row, UserRow) else row.body or "" for row in rows
             if isinstance(row, UserRow | SystemNoticeRow)]
    return [text for text in texts if not text.startswith("Mob notice")]


def turns_of(mob: Mob, member: str, after: int) -> list[Any]:
    return [e.get("text") for e in mob.events_log.after(after) if e.type == "turn_committed"
            and e.get("member") == member]


@pytest.mark.parametrize("where", ["inside", "after"])
def test_a_crash_between_commit_and_acknowledgement_never_runs_the_turn_again(
        mob: Mob, store: HookedStore, where: Where) -> None:
    cursor = mob.events_log.latest
    crash_while_committing(mob, store, where)
    mob.send("worker", "fig 9")
    restarted = mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=15)
    assert restarted.get("generation") == 1
    mob.wait_idle(15)  # nothing left to redeliver: the commit acknowledged the message
    assert store.hook is None, "the hook never fired"
    assert inputs(mob.member("worker").history()) == ["fig 9"]
    assert turns_of(mob, "worker", cursor) == ["You said: fig 9"]  # the committed turn still says so, once
    # the turn committed before the restart was reported: it comes first in the log
    assert [e.type for e in mob.events_log.after(cursor) if e.type in ("turn_committed", "member_restarted")] \
        == ["turn_committed", "member_restarted"]
    mob.send("worker", "kiwi 7")  # the restarted member works on
    mob.wait_idle(15)
    assert inputs(mob.member("worker").history()) == ["fig 9", "kiwi 7"]
    assert mob.member("worker").info()["generation"] == 1


def test_a_steered_message_taken_by_the_committing_turn_is_not_redelivered(mob: Mob, store: HookedStore) -> None:
    """A message steered into a running turn is acknowledged by that turn's commit too."""
    cursor = mob.events_log.latest
    mob.send_peer("boss", "worker", "slow job one")
    assert mob_tools.ENTERED.wait(10)  # the turn is in its tool call
    mob.send_peer("boss", "worker", "and a steer", handling_mode="steer")  # joins it at its next model call
    crash_while_committing(mob, store, "after")
    mob_tools.GATE.set()
    mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=15)
    mob.wait_idle(15)
    assert inputs(mob.member("worker").history()) == [
        "Peer message from boss:\nslow job one", "Peer message from boss:\nand a steer"]
    assert len(turns_of(mob, "worker", cursor)) == 1
    assert mob_tools.CALLS == ["one"]  # the tool ran once: the turn was not run again


def test_a_crash_before_the_commit_redelivers_and_commits_once(mob: Mob) -> None:
    """The other side of the same race: cancelled before it committed, the turn runs again after the restart."""
    cursor = mob.events_log.latest
    mob.send_peer("boss", "worker", "slow job two")
    assert mob_tools.ENTERED.wait(10)
    mob.member("worker").crash("crashed mid-turn")
    mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=15)
    mob_tools.GATE.set()  # the redelivered turn calls the tool again and goes through
    mob.wait_idle(15)
    assert inputs(mob.member("worker").history()) == ["Peer message from boss:\nslow job two"]
    assert len(turns_of(mob, "worker", cursor)) == 1
    assert mob_tools.CALLS == ["two", "two"]


def test_a_restarted_member_acknowledges_a_redelivered_message_its_history_holds(mob: Mob) -> None:
    """The acknowledgement of a committed turn lost with its incarnation (a Ray node lost right after the commit):
    the supervisor redelivers the message, and the restarted member finds it in its history (the comms block's
    ``message_id``) and acknowledges it instead of running it again."""
    cursor = mob.events_log.latest
    message_id = mob.send_peer("boss", "worker", "count me once")
    mob.wait_idle(15)
    before = mob.member("worker").history()
    mob.member("worker").crash("lost its node")
    mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=15)
    redelivered = Envelope(sender="boss", receiver="worker", body="count me once", id=message_id)
    mob.member("worker").proxy().deliver(redelivered).get(timeout=10)  # as the supervisor's redelivery does
    fresh = mob.send_peer("boss", "worker", "and me")  # a new message still opens a turn, after it
    mob.wait_idle(15)
    after = mob.member("worker").history()
    assert [row.model_dump() for row in after[:len(before)]] == [row.model_dump() for row in before]
    assert inputs(after) == ["Peer message from boss:\ncount me once", "Peer message from boss:\nand me"]
    assert len(turns_of(mob, "worker", cursor)) == 2
    assert {message_id, fresh} <= consumed_message_ids(after)


def test_a_forked_process_hands_out_message_ids_of_its_own() -> None:
    """Ids are compared across processes (a restored member skips a redelivered id its history holds): a server
    forked from a parent that already made ids (the hardening suite's ForkedServer, a pre-fork web server) must not
    make the parent's next ones again."""
    import os

    from mobkat.mob.messages import new_message_id

    new_message_id()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(writer, new_message_id().encode())
        os._exit(0)
    os.close(writer)
    in_child = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(child, 0)
    in_parent = new_message_id()
    assert len(in_child) == len(in_parent) == 32 and in_child[:16] != in_parent[:16]
