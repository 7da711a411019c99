"""A restarted member reads its history on its own thread: a long load never stalls routing for the others.

The regression (issue #13): the supervisor loaded the crashed member's session (every row of its history
read and decoded) on its own thread, inside ``_member_crashed``; for a long history that is seconds in
which no message reached any member. Here the store holds the restarted member's history read at a gate
until the test opens it, so "a long load" lasts as long as the test needs, on every run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobkat.config import MobkatConfig
from mobkat.history import AssistantBlock, BlockAssistantRow, HistoryRow, UserRow
from mobkat.mob import Mob, MobDefinition
from mobkat.session import SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
ROWS = 4_000


class GatedStore(SqliteSessionStore):
    """The SQLite store; a full-history read of the ``gated`` session waits until ``opened`` is set."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gated: str | None = None
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.reader: threading.Thread | None = None

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        if session_id == self.gated and offset == 0 and limit is None:
            self.reader = threading.current_thread()
            self.entered.set()
            assert self.opened.wait(30), "the test never opened the gate"
        return super().history(session_id, offset=offset, limit=limit)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GatedStore]:
    gated = GatedStore(tmp_path / "sessions.db")
    yield gated
    gated.opened.set()
    gated.close()


@pytest.fixture
def mob(store: GatedStore, simulator: Simulator) -> Iterator[Mob]:
    services = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url).start()
    definition = MobDefinition.from_dict({"id": "team", "profiles": {"big": TEXT, "other": TEXT}})
    try:
        with Mob(definition, services=services, ask_timeout=5) as running:  # a stalled supervisor fails fast
            running.spawn("big")
            running.spawn("other")
            yield running
    finally:
        store.opened.set()
        services.close()


def long_history(count: int) -> list[HistoryRow]:
    rows: list[HistoryRow] = []
    for i in range(count // 2):
        rows.append(UserRow(content=f"question {i}"))
        rows.append(BlockAssistantRow(blocks=[AssistantBlock.text(f"answer {i}")]))
    return rows


def user_texts(rows: list[HistoryRow]) -> list[str]:
    return [row.text for row in rows if isinstance(row, UserRow)]


def test_a_restart_loading_a_long_history_does_not_block_routing_to_another_member(
        mob: Mob, store: GatedStore) -> None:
    big = mob.member("big").info()["session_id"]
    store.commit_turn(big, long_history(ROWS))  # big is idle: its history is now ROWS rows long
    store.gated = big
    cursor = mob.events_log.latest
    mob.member("big").crash("injected")
    assert store.entered.wait(10), "the restart never read the history"
    try:
        # the load is held at the gate: the supervisor must still route, and the other member still work
        mob.send("other", "ping 1")
        committed = mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == "other",
                                       after=cursor, timeout=10)
        assert committed.get("text") == "You said: ping 1"
        mob.send("big", "while loading")  # routed now, handled once the history is in memory
        assert store.reader is not None and store.reader.name.startswith("MemberActor")
    finally:
        store.opened.set()
    restarted = mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=10)
    assert restarted.get("generation") == 1
    mob.wait_idle(15)
    history = mob.member("big").history()
    assert len(history) == ROWS + 2  # the loaded rows, then the one turn on top of them
    assert user_texts(history)[-2:] == [f"question {ROWS // 2 - 1}", "while loading"]
    assert [e.get("text") for e in mob.events_log.after(cursor)
            if e.type == "turn_committed" and e.get("member") == "big"] == ["You said: while loading"]
    assert mob.member("big").session().history(0, 2) == history[:2]  # the member's memory has it all


def test_a_failed_history_read_at_restart_is_a_crash_the_supervisor_restarts(
        mob: Mob, store: GatedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new member reads in ``on_start``; if that read fails it reports a crash (pykka alone would not)."""
    big = mob.member("big").info()["session_id"]
    failures = iter([OSError("disk went away")])
    real = SqliteSessionStore.history

    def flaky(self: SqliteSessionStore, session_id: str, *, offset: int = 0,
              limit: int | None = None) -> list[HistoryRow]:
        if session_id == big and offset == 0 and limit is None:
            failure = next(failures, None)
            if failure is not None:
                raise failure
        return real(self, session_id, offset=offset, limit=limit)

    monkeypatch.setattr(SqliteSessionStore, "history", flaky)
    cursor = mob.events_log.latest
    mob.member("big").crash("injected")
    second = mob.wait_for_event(lambda e: e.type == "member_restarted" and e.get("generation") == 2,
                                after=cursor, timeout=10)
    assert "disk went away" in str(second.get("error"))
    mob.send("big", "after two restarts")
    mob.wait_idle(15)
    assert user_texts(mob.member("big").history()) == ["after two restarts"]
