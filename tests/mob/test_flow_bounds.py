"""Flow runs are bounded (docs/flows.md, docs/security.md): at most ``max_active_flow_runs`` active runs per mob
(one more is ``FlowRunLimitError``, the others go on), and at most ``max_finished_flow_runs`` finished runs kept,
in memory and in the SQLite flow-run store (the oldest finished go first, then read as unknown runs)."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from mobkat.errors import FlowRunLimitError, InvalidInputError, MobkatError
from mobkat.mob import Mob, MobDefinition
from mobkat.mob.flow_engine import MAX_ACTIVE_FLOW_RUNS, MAX_FINISHED_FLOW_RUNS
from mobkat.session import SessionServices
from mobkat.store.flow_runs import MemoryFlowRunStore, SqliteFlowRunStore
from mobkat.wire.flows import MobRun
from tests.mob import mob_tools

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
SLOW = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
ANY = {"type": "any"}
FLOWS = {"main": {"steps": {"go": {"role": "lead", "message": "Go {{ params.prompt }}.", "collection_policy": ANY}}},
         "slow": {"steps": {"wait": {"role": "worker", "message": "slow job {{ params.prompt }}",
                                     "collection_policy": ANY, "timeout_ms": 60000}}}}


def team(services: SessionServices, **options: Any) -> Mob:
    """A mob (not started) with a quick ``main`` flow on ``lead`` and a gated ``slow`` flow on ``worker``."""
    mob = Mob(MobDefinition.from_dict({"id": "team", "profiles": {"lead": TEXT, "worker": SLOW}, "flows": FLOWS}),
              services=services, **options)
    return mob


def spawned(mob: Mob) -> Mob:
    mob.start()
    mob.spawn("lead")
    mob.spawn("worker")
    return mob


def finished_run(mob_id: str, status: str = "completed") -> MobRun:
    return MobRun(run_id=str(uuid.uuid4()), mob_id=mob_id, flow_id="main", status=status)


def test_the_defaults() -> None:
    assert (MAX_ACTIVE_FLOW_RUNS, MAX_FINISHED_FLOW_RUNS) == (16, 256)
    assert (Mob.max_active_flow_runs, Mob.max_finished_flow_runs) == (16, 256)


def test_the_17th_active_run_is_refused_and_a_slot_frees_when_a_run_ends(services: SessionServices,
                                                                        gate: None) -> None:
    with spawned(team(services)) as mob:
        runs = [mob.run_flow("slow", {"prompt": f"n{i}"}) for i in range(16)]
        assert mob_tools.ENTERED.wait(20)  # the first run's turn is in the gated tool; the others queue behind it
        with pytest.raises(FlowRunLimitError) as refused:
            mob.run_flow("slow", {"prompt": "n16"})
        assert refused.value.message == ("mob team has 16 active flow runs, the limit is 16; wait for one to finish "
                                         "or cancel one (mob/flow_cancel)")
        assert refused.value.details == {"mob_id": "team", "limit": 16, "active": 16}
        assert refused.value.code == "flow_run_limit" and refused.value.rpc_code == -32002
        with pytest.raises(FlowRunLimitError):
            mob.run("x")  # mob.run is run_flow too
        assert sorted(mob.active_flow_runs()) == sorted(runs)  # untouched
        assert len(mob.flow_runs.runs("team")) == 16  # type: ignore[union-attr]  # nothing stored for the refused

        assert mob.cancel_flow(runs[-1]) is True  # a run ends: its slot is free when cancel returns
        extra = mob.run("after a cancel")
        with pytest.raises(FlowRunLimitError, match="has 16 active flow runs"):
            mob.run("one too many")

        mob_tools.GATE.set()  # every run can finish now
        assert mob.wait_flow(runs[0], 30).status == "completed"
        assert mob.wait_flow(mob.run("after a finish"), 30).status == "completed"
        for run_id in [*runs[:-1], extra]:
            assert mob.wait_flow(run_id, 30).status == "completed"
        assert mob.active_flow_runs() == []


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_oldest_finished_run_is_dropped_first(services: SessionServices, gate: None, kind: str) -> None:
    mob = team(services)
    mob.max_finished_flow_runs = 2
    if kind == "memory":
        mob.flow_runs = MemoryFlowRunStore()  # else flow_runs.db beside the services' sessions.db
    with spawned(mob):
        slow = mob.run_flow("slow", {"prompt": "first"})  # started first, finishes last
        assert mob_tools.ENTERED.wait(20)
        quick = [mob.wait_flow(mob.run(f"q{i}"), 30).run_id for i in range(3)]  # one after the other
        assert mob.flow_status(quick[0]) is None and mob.run_result(quick[0]) is None  # oldest finished: gone
        assert mob.cancel_flow(quick[0]) is False
        with pytest.raises(InvalidInputError, match=f"has no flow run {quick[0]}"):
            mob.wait_flow(quick[0], 1)
        assert mob.flow_status(slow) is not None  # active runs are never dropped

        mob_tools.GATE.set()
        assert mob.wait_flow(slow, 30).status == "completed"
        assert mob.flow_status(quick[1]) is None  # it finished before the slow run did
        kept = [run.run_id for run in mob.flow_runs.runs("team")]  # type: ignore[union-attr]
        assert sorted(kept) == sorted([quick[2], slow])
        assert isinstance(mob.flow_runs, MemoryFlowRunStore if kind == "memory" else SqliteFlowRunStore)
        result = mob.run_result(slow)
        assert result is not None and result.outputs == {"wait": "Tool wait_gate returned: gate passed for first"}


def test_the_sqlite_store_is_bounded_too(services: SessionServices, tmp_path: Path) -> None:
    mob = team(services, state_root=tmp_path)
    mob.max_finished_flow_runs = 3
    with spawned(mob):
        runs = [mob.wait_flow(mob.run(f"r{i}"), 30).run_id for i in range(6)]
    store = SqliteFlowRunStore(tmp_path / "team" / "flow_runs.db")  # reopen what the stopped mob left
    try:
        assert [run.run_id for run in store.runs("team")] == runs[3:]
    finally:
        store.close()


def test_a_store_over_the_bound_is_pruned_when_the_mob_starts(services: SessionServices, tmp_path: Path) -> None:
    path = tmp_path / "runs" / "flow_runs.db"
    store = SqliteFlowRunStore(path)
    old = [finished_run("team", status) for status in ("completed", "failed", "canceled", "completed")]
    interrupted = MobRun(run_id=str(uuid.uuid4()), mob_id="team", flow_id="main", status="running")
    others = [finished_run("other") for _ in range(4)]
    for run in [*old, interrupted, *others]:
        store.save(run)
    store.close()

    store = SqliteFlowRunStore(path)
    mob = team(services)
    mob.flow_runs, mob.max_finished_flow_runs = store, 2
    with mob.start():
        # the interrupted run is marked failed (so it finished last) and kept with the newest older one
        assert [run.run_id for run in store.runs("team")] == [old[-1].run_id, interrupted.run_id]
        assert mob.flow_status(old[0].run_id) is None
    assert len(store.runs("other")) == 4  # another mob's runs are not this mob's to drop
    store.close()
    reopened = SqliteFlowRunStore(path)
    try:
        assert len(reopened.runs("team")) == 2
    finally:
        reopened.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_prune_keeps_the_most_recently_saved_finished_runs(kind: str, tmp_path: Path) -> None:
    runs = MemoryFlowRunStore() if kind == "memory" else SqliteFlowRunStore(tmp_path / "flow_runs.db")
    active = MobRun(run_id=str(uuid.uuid4()), mob_id="m", flow_id="main", status="running")
    first, second, third = (finished_run("m") for _ in range(3))
    for run in (first, active, second, third):
        runs.save(run)
    runs.save(first)  # saved again (e.g. it finished last): now the newest
    assert runs.prune("m", 2) == 1
    assert sorted(r.run_id for r in runs.runs("m")) == sorted([active.run_id, third.run_id, first.run_id])
    assert runs.prune("m", 2) == 0 and runs.prune("nobody", 0) == 0
    assert runs.prune("m", 0) == 2 and [r.run_id for r in runs.runs("m")] == [active.run_id]
    runs.close()


def test_a_limit_below_one_is_refused(services: SessionServices) -> None:
    mob = team(services)
    mob.max_active_flow_runs = 0
    with pytest.raises(MobkatError, match="flow-run limit max_active must be an integer >= 1, got 0"):
        mob.start()
    mob.stop()


def test_a_run_whose_thread_cannot_start_is_failed_and_frees_its_slot(services: SessionServices,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real_start = threading.Thread.start

    def out_of_threads(thread: threading.Thread) -> None:
        if thread.name.startswith("mobkat-flow-"):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    mob = team(services)
    mob.max_active_flow_runs = 1
    with spawned(mob):
        monkeypatch.setattr(threading.Thread, "start", out_of_threads)
        with pytest.raises(RuntimeError, match="can't start new thread"):
            mob.run("x")
        monkeypatch.undo()
        [failed] = mob.flow_runs.runs("team")  # type: ignore[union-attr]
        assert failed.status == "failed" and failed.failure_ledger[0].cause == "internal"
        assert failed.failure_ledger[0].reason == "the run could not start: can't start new thread"
        assert mob.active_flow_runs() == []
        assert mob.wait_flow(mob.run("y"), 30).status == "completed"  # the one slot is free
