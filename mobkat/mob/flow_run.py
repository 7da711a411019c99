"""One flow run: a state machine on its own thread, fed by the mob's event log (see
:mod:`mobkat.mob.flow_engine` and docs/flows.md): it starts steps as their dependencies settle, dispatches
each target as a routed message, learns answers from ``turn_committed``, and saves every change."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mobkat.errors import MobkatError
from mobkat.mob import json_schema
from mobkat.mob.events import MobEvent
from mobkat.mob.flow_render import StepFault, aggregate, holds, parse_output, prompt_for, render
from mobkat.mob.flow_schema import AnyPolicy, FlowSpec, FlowStep, QuorumPolicy
from mobkat.mob.messages import Envelope
from mobkat.wire.flows import FailureLedgerEntry, MobRun, StepLedgerEntry

if TYPE_CHECKING:
    from mobkat.mob.flow_engine import FlowEngine

log = logging.getLogger(__name__)
POLL_S = 0.2
FLOW_MEMBER_PREFIX = "__flow_"
"""The longest a run waits for an event before it checks its deadlines and a cancel request again."""


@dataclass
class _Target:
    step_id: str
    member: str
    attempt: int = 1
    message_id: str = ""
    deadline: float = 0.0


@dataclass
class _Step:
    """A running step: targets waiting for their member, in flight, and finished."""

    queued: list[_Target] = field(default_factory=list)
    successes: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, StepFault] = field(default_factory=dict)
    prompt: str = ""


class RunExecution:
    """One run on its own thread."""

    def __init__(self, engine: FlowEngine, run: MobRun, flow: FlowSpec) -> None:
        self.engine = engine
        self.mob = engine.mob
        self.run = run
        self.flow = flow
        limits = self.mob.definition.limits
        self.retries = limits.max_step_retries if limits is not None else 0
        self.max_duration_ms = limits.max_flow_duration_ms if limits is not None else None
        self.cancel = threading.Event()
        self.cancel_cause = "cancel_requested"
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"mobkat-flow-{run.run_id[:8]}", daemon=True)
        self.state: dict[str, str] = dict.fromkeys(flow.steps, "pending")
        self.steps: dict[str, _Step] = {}
        self.inflight: dict[str, _Target] = {}
        self.busy: set[str] = set()

    # -- the loop ------------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._loop()
        except Exception as exc:
            log.exception("mob %s: flow run %s failed", self.mob.id, self.run.run_id)
            if not self.run.terminal:
                self._fail_run(None, StepFault("internal", f"{type(exc).__name__}: {exc}"))
        finally:
            self.engine._finished(self.run.run_id)
            self.done.set()

    def _loop(self) -> None:
        events = self.mob.events_log
        cursor = events.latest
        self.run.status = "running"
        self._save()
        self._emit("flow_started", flow_id=self.run.flow_id, params=self.run.activation_params)
        deadline = None if self.max_duration_ms is None else time.monotonic() + self.max_duration_ms / 1000
        while True:
            if self.cancel.is_set():
                return self._cancel_run()
            if deadline is not None and time.monotonic() > deadline:
                return self._fail_run(None, StepFault("step_timeout",
                                                      f"max_flow_duration_ms ({self.max_duration_ms}) exceeded"))
            self._expire_targets()
            before: dict[str, str] | None = None
            while before != self.state and not self.run.terminal:  # a skip can settle a step declared earlier
                before = dict(self.state)
                self._advance()
            if self.run.terminal:
                return None
            if all(status not in ("pending", "running") for status in self.state.values()):
                return self._complete_run()
            batch = events.after(cursor)
            if not batch:
                for event in events.follow(cursor, timeout=POLL_S):
                    batch = [event]
                    break
            for event in batch:
                cursor = event.cursor
                self._on_event(event)

    def _advance(self) -> None:
        """Start every step whose dependencies are settled; dispatch queued targets whose member is free."""
        for step_id, step in self.flow.steps.items():
            if self.run.terminal:
                return
            if self.state[step_id] == "pending":
                self._consider(step_id, step)
            if self.state[step_id] == "running":
                self._dispatch_queued(step_id, step)

    def _consider(self, step_id: str, step: FlowStep) -> None:
        deps = [self.state[d] for d in step.depends_on]
        if any(status in ("pending", "running") for status in deps):
            return
        done = [status == "completed" for status in deps]
        if deps and (not all(done) if step.depends_on_mode == "all" else not any(done)):
            return self._skip(step_id, f"dependencies not met ({step.depends_on_mode}): " + ", ".join(
                f"{d} {self.state[d]}" for d in step.depends_on))
        if step.branch is not None:
            siblings = [s for s, other in self.flow.steps.items() if other.branch == step.branch and s != step_id]
            if any(self.state[s] == "completed" for s in siblings):
                return self._skip(step_id, f"branch {step.branch!r} already taken")
            if any(self.state[s] == "running" for s in siblings):
                return None  # a fallback: runs only if the running sibling does not complete
        params, outputs = self.run.activation_params, self.run.root_step_outputs
        if step.condition is not None and not holds(step.condition, params, outputs):
            return self._skip(step_id, "condition is false")
        try:
            message = render(step.message, params, outputs)
            targets = self._targets(step)
        except StepFault as fault:
            self.state[step_id] = "running"
            return self._step_failed(step_id, step, fault)
        schema = self.mob.definition.step_schema(self.run.flow_id, step_id)
        self.state[step_id] = "running"
        self.steps[step_id] = _Step(queued=[_Target(step_id, name) for name in targets],
                                    prompt=prompt_for(message, schema))
        self.run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="dispatched"))
        self._save()
        return None

    def _targets(self, step: FlowStep) -> list[str]:
        members = sorted(view["name"] for view in self.mob.members()
                         if view["role"] == step.role and view["status"] == "active")
        if not members:
            members = [self._provision(step.role)]
        if step.dispatch_mode == "one_to_one":
            members = members[:1]
        policy = step.collection_policy
        if isinstance(policy, QuorumPolicy) and policy.n > len(members):
            raise StepFault("insufficient_targets",
                            f"quorum {policy.n} needs {policy.n} members of role {step.role!r}, found {len(members)}")
        return members

    def _provision(self, role: str) -> str:
        """No active member has ``role``: spawn a flow-owned one, ``__flow_<role>`` (turn-driven, labelled
        ``flow_owned``), as upstream does; later steps and runs reuse it."""
        name = f"{FLOW_MEMBER_PREFIX}{role}"
        try:
            self.mob._supervise("spawn", role, name, None, 0, "turn_driven", {"flow_owned": "true"}, True,
                                timeout=self.mob._spawn_timeout())
        except MobkatError as exc:
            raise StepFault("insufficient_targets", f"no active member has role {role!r}, and provisioning "
                                                    f"{name} failed: {exc}") from None
        return name

    def _dispatch_queued(self, step_id: str, step: FlowStep) -> None:
        progress = self.steps[step_id]
        queued, progress.queued = progress.queued, []
        for target in queued:
            if target.member in self.busy:
                progress.queued.append(target)
            else:
                self._dispatch(target, step, progress.prompt)
        self._settle(step_id, step)

    def _dispatch(self, target: _Target, step: FlowStep, prompt: str) -> None:
        envelope = Envelope(sender="operator", receiver=target.member, body=prompt)
        target.message_id = envelope.id
        target.deadline = time.monotonic() + step.timeout_ms / 1000
        generation = next((view["generation"] for view in self.mob.members() if view["name"] == target.member), 0)
        self._emit("step_dispatched", step_id=target.step_id, message_id=envelope.id, attempt=target.attempt,
                   target={"identity": target.member, "generation": generation})
        try:
            self.mob._supervise("route", envelope)
        except MobkatError as exc:
            fault = StepFault("step_error", f"member {target.member} refused the step: {exc}")
            self._target_failed(target, fault, settle=False)  # _dispatch_queued settles once all are out
            return
        self.inflight[envelope.id] = target
        self.busy.add(target.member)

    # -- outcomes ------------------------------------------------------------------------------------
    def _on_event(self, event: MobEvent) -> None:
        if self.run.terminal:
            return
        if event.type == "turn_committed":
            for message_id in event.get("message_ids") or ():
                target = self.inflight.pop(message_id, None)
                if target is not None:
                    self._target_answered(target, str(event.get("text") or ""))
        elif event.type == "message_dead_lettered":
            target = self.inflight.pop(str(event.get("message_id")), None)
            if target is not None:
                self._target_failed(target, StepFault("step_error", f"the member's turn failed "
                                                      f"{event.get('attempts')} times: {event.get('error')}"))
        elif event.type in ("member_broken", "member_retired"):
            gone = event.get("member")
            for message_id, target in list(self.inflight.items()):
                if target.member == gone:
                    del self.inflight[message_id]
                    why = "broken (restart limit reached)" if event.type == "member_broken" else "retired"
                    self._target_failed(target, StepFault("step_error", f"member {gone} was {why}"))

    def _expire_targets(self) -> None:
        now = time.monotonic()
        for message_id, target in list(self.inflight.items()):
            if now > target.deadline:
                del self.inflight[message_id]
                timeout_ms = self.flow.steps[target.step_id].timeout_ms
                self._target_failed(target, StepFault("step_timeout", f"member {target.member} did not answer "
                                                      f"within timeout_ms = {timeout_ms}"))

    def _target_answered(self, target: _Target, text: str) -> None:
        self.busy.discard(target.member)
        step = self.flow.steps[target.step_id]
        schema = self.mob.definition.step_schema(self.run.flow_id, target.step_id)
        json_output = step.output_format == "json" or (step.output_format is None and schema is not None)
        try:
            output = parse_output(text, json_output)
            problems = json_schema.validate(schema, output) if schema is not None else []
            if problems:
                raise StepFault("schema_validation", "the output does not match the schema: " + "; ".join(problems))
        except StepFault as fault:
            return self._target_failed(target, fault)
        self.steps[target.step_id].successes[target.member] = output
        self._emit("step_target_completed", step_id=target.step_id, target={"identity": target.member},
                   output=output)
        self._settle(target.step_id, step)
        return None

    def _target_failed(self, target: _Target, fault: StepFault, *, settle: bool = True) -> None:
        self.busy.discard(target.member)
        step = self.flow.steps[target.step_id]
        self._emit("step_target_failed", step_id=target.step_id, target={"identity": target.member},
                   cause=fault.cause, reason=fault.reason, attempt=target.attempt)
        if target.attempt <= self.retries:
            self.steps[target.step_id].queued.append(_Target(target.step_id, target.member, target.attempt + 1))
        else:
            self.steps[target.step_id].failures[target.member] = fault
        if settle and not self.run.terminal:
            self._settle(target.step_id, step)

    def _settle(self, step_id: str, step: FlowStep) -> None:
        """Once no target of the step is waiting or in flight, decide it by its collection policy."""
        progress = self.steps[step_id]
        if self.state[step_id] != "running" or progress.queued or any(
                t.step_id == step_id for t in self.inflight.values()):
            return
        policy = step.collection_policy
        wins = len(progress.successes)
        needed = policy.n if isinstance(policy, QuorumPolicy) else 1 if isinstance(policy, AnyPolicy) else None
        if (needed is None and not progress.failures and wins) or (needed is not None and wins >= needed):
            output = aggregate(step, progress.successes)
            self.state[step_id] = "completed"
            self.run.root_step_outputs[step_id] = output
            self.run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="completed", output=output))
            self._save()
            self._emit("step_completed", step_id=step_id)
            return
        fault = next(iter(progress.failures.values()), StepFault("step_error", "no target succeeded"))
        self._step_failed(step_id, step, fault)

    def _step_failed(self, step_id: str, step: FlowStep, fault: StepFault) -> None:
        self.state[step_id] = "failed"
        self.run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="failed", reason=fault.reason))
        self.run.failure_ledger.append(FailureLedgerEntry(step_id=step_id, cause=_cause(fault), reason=fault.reason))
        self._save()
        self._emit("step_failed", step_id=step_id, cause=fault.cause, reason=fault.reason)
        if step.failure_policy == "escalate":
            self._fail_run(step_id, fault)

    def _skip(self, step_id: str, reason: str) -> None:
        self.state[step_id] = "skipped"
        self.run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="skipped", reason=reason))
        self._save()
        self._emit("step_skipped", step_id=step_id, reason=reason)

    # -- the end -------------------------------------------------------------------------------------
    def _close_running(self, status: str, reason: str) -> None:
        for step_id in self._running():
            self.state[step_id] = status
            self.run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="canceled", reason=reason))

    def _running(self) -> Iterable[str]:
        return [step_id for step_id, status in self.state.items() if status == "running"]

    def _complete_run(self) -> None:
        self.run.status = "completed"
        self._save()
        self._emit("flow_completed", flow_id=self.run.flow_id)

    def _fail_run(self, step_id: str | None, fault: StepFault) -> None:
        self._close_running("canceled", f"the run failed: {fault.reason}")
        if step_id is None:
            self.run.failure_ledger.append(FailureLedgerEntry(step_id=None, cause=_cause(fault), reason=fault.reason))
        self.run.status = "failed"
        self._save()
        self._emit("flow_failed", flow_id=self.run.flow_id, cause=fault.cause, reason=fault.reason)

    def _cancel_run(self) -> None:
        self._close_running("canceled", self.cancel_cause)
        self.run.status = "canceled"
        self._save()
        self._emit("flow_canceled", flow_id=self.run.flow_id, cause=self.cancel_cause)

    def _save(self) -> None:
        self.engine.store.save(self.run)

    def _emit(self, type: Any, **fields: Any) -> None:
        self.mob.events_log.append(type, run_id=self.run.run_id, **fields)


def _cause(fault: StepFault) -> Any:
    known = {"step_timeout", "schema_validation", "run_canceled", "insufficient_targets", "step_error", "internal"}
    return fault.cause if fault.cause in known else "internal"


__all__ = ["RunExecution"]
