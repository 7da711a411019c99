"""Flow runs through the Python ``Mob`` API, on the simulator: dependency order, outputs handed on, output
schemas, conditions, cancel, a member crash in the middle of a step, and runs left over by a dead process."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from mobkat.errors import FlowNotFoundError, InvalidInputError, MobkatError
from mobkat.history import UserRow
from mobkat.mob import Mob, MobDefinition
from mobkat.session import SessionServices
from mobkat.store.flow_runs import SERVER_RESTARTED, SqliteFlowRunStore
from mobkat.wire.flows import MobRun, StepLedgerEntry
from tests.mob import mob_tools

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
SLOW = {**TEXT, "tools": {"python": ["tests.mob.mob_tools:wait_gate"]}}
ANY = {"type": "any"}


def definition(flows: dict[str, Any], **profiles: dict[str, Any]) -> MobDefinition:
    return MobDefinition.from_dict({"id": "team", "profiles": profiles or {"lead": TEXT, "worker": TEXT},
                                    "flows": flows})


def start(services: SessionServices, flows: dict[str, Any], members: dict[str, str],
          **profiles: dict[str, Any]) -> Mob:
    mob = Mob(definition(flows, **profiles), services=services).start()
    for name, profile in members.items():
        mob.spawn(profile, name)
    return mob


def kinds(mob: Mob, run_id: str) -> list[tuple[str, str | None]]:
    return [(e.type, e.get("step_id")) for e in mob.events_log.after(0) if e.get("run_id") == run_id]


DIAMOND = {"main": {"steps": {
    "plan": {"role": "lead", "message": "Plan {{ params.prompt }}.", "collection_policy": ANY},
    "left": {"role": "worker", "message": "Left of: {{ steps.plan.output }}", "depends_on": ["plan"],
             "collection_policy": ANY},
    "right": {"role": "lead", "message": "Right of: {{ steps.plan.output }}", "depends_on": ["plan"]},
    "join": {"role": "worker", "message": "Join {{ steps.left.output }} + {{ steps.right.output.lead }}",
             "depends_on": ["left", "right"], "collection_policy": ANY},
}}}


def test_steps_run_in_dependency_order_and_outputs_are_handed_on(services: SessionServices) -> None:
    with start(services, DIAMOND, {"lead": "lead", "worker": "worker"}) as mob:
        run_id = mob.run("tides")  # flow "main", params.prompt
        assert mob.flow_status(run_id) is not None  # persisted before run() returned
        run = mob.wait_flow(run_id, 30)
        assert run.status == "completed" and run.activation_params == {"prompt": "tides"}
        plan = "You said: Plan tides."
        assert run.root_step_outputs == {
            "plan": plan,
            "left": f"You said: Left of: {plan}",
            "right": {"lead": f"You said: Right of: {plan}"},  # fan-out: {identity: output}
            "join": f"You said: Join You said: Left of: {plan} + You said: Right of: {plan}",
        }
        order = kinds(mob, run_id)
        done = {step: order.index(("step_completed", step)) for step in DIAMOND["main"]["steps"]}
        started = {step: order.index(("step_dispatched", step)) for step in DIAMOND["main"]["steps"]}
        assert done["plan"] < started["left"] and done["plan"] < started["right"]
        assert max(done["left"], done["right"]) < started["join"]
        assert order[0] == ("flow_started", None) and order[-1] == ("flow_completed", None)
        assert [(e.step_id, e.status) for e in run.step_ledger if e.step_id == "join"] == [
            ("join", "dispatched"), ("join", "completed")]
        assert mob.run_result(run_id) == run.result_envelope()
        assert mob.run_result(run_id).result == {"steps": run.root_step_outputs}  # type: ignore[union-attr]


SCHEMA = {"type": "object", "required": ["verdict", "notes"], "additionalProperties": False,
          "properties": {"verdict": {"type": "string", "enum": ["approve", "revise"]}, "notes": {"type": "string"}}}


def test_an_output_schema_is_asked_for_and_checked(services: SessionServices) -> None:
    flows = {"main": {"steps": {"review": {"role": "reviewer", "message": "Review {{ params.prompt }}.",
                                           "collection_policy": ANY}}}}
    with start(services, flows, {"reviewer": "reviewer"}, reviewer={**TEXT, "output_schema": SCHEMA}) as mob:
        run = mob.wait_flow(mob.run("the draft"), 30)
        assert run.status == "completed"
        assert run.root_step_outputs["review"] == {"verdict": "approve", "notes": "Review the draft."}
        prompt = [row for row in mob.member("reviewer").history() if isinstance(row, UserRow)][-1].content
        assert "Reply with only a JSON value matching this JSON schema:" in str(prompt)


def test_an_output_that_breaks_the_schema_fails_the_step_and_the_run(services: SessionServices) -> None:
    strict = {"type": "object", "required": ["ticket"],
              "properties": {"ticket": {"type": "string", "pattern": "^T-[0-9]+$"}}}
    flows = {"main": {"steps": {
        "file": {"role": "lead", "message": "File it.", "expected_schema_ref": __import__("json").dumps(strict)},
        "after": {"role": "lead", "message": "Then {{ steps.file.output }}", "depends_on": ["file"]}}}}
    with start(services, flows, {"lead": "lead"}) as mob:
        run = mob.wait_flow(mob.run(), 30)
        assert run.status == "failed"
        [failure] = run.failure_ledger
        assert failure.step_id == "file" and failure.cause == "schema_validation"
        assert "does not match pattern '^T-[0-9]+$'" in failure.reason
        assert "after" not in {entry.step_id for entry in run.step_ledger}
        order = kinds(mob, run.run_id)
        assert ("step_target_failed", "file") in order and order[-1] == ("flow_failed", None)
        failed = [e for e in mob.events_log.after(0) if e.type == "flow_failed"][-1]
        assert failed.get("cause") == "schema_validation"


def test_a_false_condition_skips_the_step_and_its_dependents(services: SessionServices) -> None:
    flows = {"main": {"steps": {
        "short": {"role": "lead", "message": "Short.", "condition": {"op": "eq", "path": "params.mode", "value": "s"}},
        "long": {"role": "lead", "message": "Long.", "condition": {"op": "eq", "path": "params.mode", "value": "l"}},
        "after_long": {"role": "lead", "message": "More.", "depends_on": ["long"]},
        "either": {"role": "lead", "message": "Done.", "depends_on": ["short", "long"], "depends_on_mode": "any"}}}}
    with start(services, flows, {"lead": "lead"}) as mob:
        run = mob.wait_flow(mob.run_flow("main", {"mode": "s"}), 30)
        assert run.status == "completed"
        latest = {entry.step_id: entry.status for entry in run.step_ledger}
        assert latest == {"short": "completed", "long": "skipped", "after_long": "skipped", "either": "completed"}
        assert ("step_skipped", "long") in kinds(mob, run.run_id)


def test_a_role_with_no_member_gets_a_flow_owned_one(services: SessionServices) -> None:
    with start(services, DIAMOND, {"lead": "lead"}) as mob:
        run = mob.wait_flow(mob.run("x"), 30)
        assert run.status == "completed"
        assert run.root_step_outputs["left"] == "You said: Left of: You said: Plan x."
        [owned] = [m for m in mob.members() if m["role"] == "worker"]
        assert owned["name"] == "__flow_worker" and owned["labels"] == {"flow_owned": "true"}
        assert owned["runtime_mode"] == "turn_driven"
        again = mob.wait_flow(mob.run("y"), 30)  # the next run reuses it
        assert again.status == "completed" and [m["name"] for m in mob.members()].count("__flow_worker") == 1
        with pytest.raises(MobkatError, match="not a valid identifier"):
            mob.spawn("worker", "__flow_mine")  # the prefix stays reserved for flows


def test_unknown_flows_and_runs(services: SessionServices) -> None:
    with start(services, DIAMOND, {}) as mob:
        assert mob.flows() == ["main"]
        with pytest.raises(FlowNotFoundError, match="flow not found: nope"):
            mob.run_flow("nope")
        with pytest.raises(InvalidInputError, match="Invalid run_id: 42"):
            mob.flow_status("42")
        unknown = str(uuid.uuid4())
        assert mob.flow_status(unknown) is None and mob.run_result(unknown) is None
        assert mob.cancel_flow(unknown) is False


def test_cancel_ends_an_active_run_and_is_a_no_op_afterwards(services: SessionServices, gate: None) -> None:
    flows = {"main": {"steps": {"slow": {"role": "worker", "message": "slow job one"}}}}
    with start(services, flows, {"worker": "worker"}, worker=SLOW) as mob:
        run_id = mob.run()
        assert mob_tools.ENTERED.wait(20)
        assert mob.cancel_flow(run_id) is True
        run = mob.flow_status(run_id)
        assert run is not None and run.status == "canceled"
        assert run.step_ledger[-1].status == "canceled"
        assert mob.cancel_flow(run_id) is False  # finished: nothing changes, no second event
        assert [k for k in kinds(mob, run_id) if k[0] == "flow_canceled"] == [("flow_canceled", None)]
        mob_tools.GATE.set()


def test_a_member_crash_in_the_middle_of_a_step_answers_it_once(services: SessionServices, gate: None) -> None:
    flows = {"main": {"steps": {"slow": {"role": "worker", "message": "slow job crashy",
                                         "collection_policy": ANY}}}}
    with start(services, flows, {"worker": "worker"}, worker=SLOW) as mob:
        run_id = mob.run()
        assert mob_tools.ENTERED.wait(20)
        cursor = mob.events_log.latest
        mob.member("worker").crash("chaos")
        mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=20)
        mob_tools.GATE.set()
        run = mob.wait_flow(run_id, 30)
        assert run.status == "completed"
        assert run.root_step_outputs["slow"] == "Tool wait_gate returned: gate passed for crashy"
        [dispatched] = [e for e in mob.events_log.after(0) if e.type == "step_dispatched"]
        message_id = dispatched.get("message_id")
        commits = [e for e in mob.events_log.after(0)
                   if e.type == "turn_committed" and message_id in (e.get("message_ids") or [])]
        assert len(commits) == 1
        asked = [row for row in mob.member("worker").history()
                 if isinstance(row, UserRow) and row.content == "slow job crashy"]
        assert len(asked) == 1  # delivered again after the crash, committed once


def test_runs_a_dead_process_left_unfinished_are_marked_failed(services: SessionServices, tmp_path: Path) -> None:
    store = SqliteFlowRunStore(tmp_path / "runs" / "flow_runs.db")
    left = MobRun(run_id=str(uuid.uuid4()), mob_id="team", flow_id="main", status="running",
                  step_ledger=[StepLedgerEntry(step_id="plan", status="dispatched")])
    done = MobRun(run_id=str(uuid.uuid4()), mob_id="team", flow_id="main", status="completed")
    other = MobRun(run_id=str(uuid.uuid4()), mob_id="other", flow_id="main", status="running")
    for run in (left, done, other):
        store.save(run)
    store.close()
    store = SqliteFlowRunStore(tmp_path / "runs" / "flow_runs.db")  # "after the restart"
    mob = Mob(definition(DIAMOND), services=services)
    mob.flow_runs = store
    with mob.start():
        failed = mob.flow_status(left.run_id)
        assert failed is not None and failed.status == "failed"
        assert [(f.step_id, f.cause, f.reason) for f in failed.failure_ledger] == [(None, "server_restarted",
                                                                                    SERVER_RESTARTED)]
        assert failed.step_ledger[-1].step_id == "plan" and failed.step_ledger[-1].status == "failed"
        assert mob.flow_status(done.run_id) == done
        event = next(e for e in mob.events_log.after(0) if e.type == "flow_failed")
        assert event.get("run_id") == left.run_id and event.get("cause") == "server_restarted"
    assert store.get("other", other.run_id) == other  # another mob's run is not this mob's to touch
    store.close()


def test_fan_out_fan_in_and_an_impossible_quorum(services: SessionServices) -> None:
    flows = {"main": {"steps": {
        "all": {"role": "worker", "message": "Count {{ params.n }}."},
        "gather": {"role": "worker", "message": "Gather.", "dispatch_mode": "fan_in", "depends_on": ["all"]},
        "one": {"role": "worker", "message": "Just one.", "dispatch_mode": "one_to_one", "depends_on": ["all"]}}},
        "quorum": {"steps": {"three": {"role": "worker", "message": "x",
                                       "collection_policy": {"type": "quorum", "n": 3}}}}}
    with start(services, flows, {"w2": "worker", "w1": "worker"}) as mob:
        run = mob.wait_flow(mob.run_flow("main", {"n": 2}), 30)
        assert run.status == "completed"
        assert run.root_step_outputs["all"] == {"w1": "You said: Count 2.", "w2": "You said: Count 2."}
        assert run.root_step_outputs["gather"] == [{"target": "w1", "output": "You said: Gather."},
                                                   {"target": "w2", "output": "You said: Gather."}]
        assert run.root_step_outputs["one"] == {"w1": "You said: Just one."}
        targets = [e.get("target")["identity"] for e in mob.events_log.after(0)
                   if e.type == "step_dispatched" and e.get("step_id") == "all"]
        assert sorted(targets) == ["w1", "w2"]

        cursor = mob.events_log.latest
        refused = mob.wait_flow(mob.run_flow("quorum"), 30)
        assert refused.status == "failed"
        assert refused.failure_ledger[0].cause == "insufficient_targets"
        assert "quorum 3 needs 3 members of role 'worker', found 2" in refused.failure_ledger[0].reason
        assert not [e for e in mob.events_log.after(cursor) if e.type == "step_dispatched"]  # nothing dispatched


def test_a_step_timeout_is_retried_then_fails_the_run(services: SessionServices, gate: None) -> None:
    flows = {"main": {"steps": {"slow": {"role": "worker", "message": "slow job late", "timeout_ms": 300}}}}
    d = MobDefinition.from_dict({"id": "team", "profiles": {"worker": SLOW}, "flows": flows,
                                 "limits": {"max_step_retries": 1}})
    with Mob(d, services=services) as mob:
        mob.spawn("worker")
        run = mob.wait_flow(mob.run(), 30)
        assert run.status == "failed" and run.failure_ledger[0].cause == "step_timeout"
        assert "did not answer within timeout_ms = 300" in run.failure_ledger[0].reason
        attempts = [e.get("attempt") for e in mob.events_log.after(0) if e.type == "step_target_failed"]
        assert attempts == [1, 2]  # max_step_retries = 1: dispatched twice
        mob_tools.GATE.set()


def test_a_stopped_mob_refuses_new_runs(services: SessionServices) -> None:
    with start(services, DIAMOND, {"lead": "lead"}) as mob:
        mob.lifecycle("stop")
        with pytest.raises(MobkatError, match="invalid state transition: mob team is Stopped, so run_flow"):
            mob.run("x")
        assert mob.flows() == ["main"]  # reads still work


def test_forgetting_a_mobs_runs_deletes_only_its_own(services: SessionServices, tmp_path: Path) -> None:
    store = SqliteFlowRunStore(tmp_path / "forget" / "flow_runs.db")
    other = MobRun(run_id=str(uuid.uuid4()), mob_id="other", flow_id="main", status="completed")
    store.save(other)
    mob = Mob(definition(DIAMOND), services=services)
    mob.flow_runs = store
    with mob.start():
        mob.spawn("lead")
        mob.spawn("worker")
        run_id = mob.run("x")
        mob.wait_flow(run_id, 30)
        assert mob.forget_flow_runs() == 1
        assert mob.flow_status(run_id) is None
    assert store.runs("other") == [other]
    store.close()
