"""Runs a mob's flows: each run is a small state machine on its own thread, fed by the mob's event log.

A step is dispatched to each target member as an ordinary routed message (sender ``operator``), so it rides
the mob's delivery machinery: it stays in the supervisor's unacknowledged set until the turn that answers it
commits, is redelivered to a member restarted after a crash, and is acknowledged by the commit itself
(:mod:`mobkat.mob.delivery`) — so a step is answered exactly once. The run learns the answer from the
``turn_committed`` event that names the step's message id (``message_dead_lettered``, ``member_broken`` or
``member_retired`` fail the target). One run never has two steps in flight on the same member, so a turn
answers one step. Every change of the run is saved to the flow-run store before it is announced."""

from __future__ import annotations

import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from mobkat.errors import FlowNotFoundError, FlowRunLimitError, InvalidInputError, MobkatError
from mobkat.mob.flow_run import RunExecution
from mobkat.store.flow_runs import FlowRunStore, fail_interrupted
from mobkat.wire.flows import FailureLedgerEntry, MobRun, check_run_id

if TYPE_CHECKING:
    from mobkat.mob.mob import Mob

log = logging.getLogger(__name__)
CANCEL_WAIT_S = 10.0
MAX_ACTIVE_FLOW_RUNS = 16
"""Active (``pending`` or ``running``) runs a mob may have at once; one more is ``FlowRunLimitError``. Each active
run is a thread, so a client must not be able to start them without bound (docs/security.md)."""
MAX_FINISHED_FLOW_RUNS = 256
"""Finished runs a mob keeps (in its flow-run store); when one more finishes, the oldest finished is dropped, and
then reads as an unknown run (``flow_status`` ``None``, ``mob/flow_status`` ``{}``)."""


class FlowEngine:
    """The flows of one mob: start, read, cancel runs; stop them all when the mob stops. At most ``max_active``
    runs are active at once, and at most ``max_finished`` finished runs are kept (the oldest go first)."""

    def __init__(self, mob: Mob, store: FlowRunStore, *, max_active: int = MAX_ACTIVE_FLOW_RUNS,
                 max_finished: int = MAX_FINISHED_FLOW_RUNS) -> None:
        for name, value in (("max_active", max_active), ("max_finished", max_finished)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"mob {mob.id}: flow-run limit {name} must be an integer >= 1, got {value!r}",
                                        details={"mob_id": mob.id, "limit": name, "value": repr(value)})
        self.mob = mob
        self.store = store
        self.max_active = max_active
        self.max_finished = max_finished
        self._active: dict[str, RunExecution] = {}
        self._lock = threading.Lock()

    def start(self) -> list[MobRun]:
        """Mark the runs a previous process left unfinished failed (``server_restarted``), announcing each
        with ``flow_failed``; returns them. The hook a mob restore calls (``Mob.start`` does). Then drop the
        oldest finished runs beyond ``max_finished``."""
        failed = fail_interrupted(self.store, self.mob.id)
        for run in failed:
            self.mob.events_log.append("flow_failed", run_id=run.run_id, flow_id=run.flow_id,
                                       cause="server_restarted", reason=run.failure_ledger[-1].reason)
        self.store.prune(self.mob.id, self.max_finished)
        return failed

    def flows(self) -> list[str]:
        return list(self.mob.definition.flows)

    def run_flow(self, flow_id: str, params: dict[str, Any] | None = None) -> str:
        """Persist a ``pending`` run, start it, and return its id (before any step is dispatched).
        ``FlowRunLimitError`` when ``max_active`` runs are active: nothing is stored or started."""
        flow = self.mob.definition.flows.get(flow_id)
        if flow is None:
            known = ", ".join(self.mob.definition.flows) or "none"
            raise FlowNotFoundError(f"flow not found: {flow_id} (flows of mob {self.mob.id}: {known})",
                                    details={"mob_id": self.mob.id, "flow_id": flow_id})
        if not isinstance(params, dict | None):
            raise InvalidInputError("flow params must be an object")
        run = MobRun(run_id=str(uuid.uuid4()), mob_id=self.mob.id, flow_id=flow_id, activation_params=params or {})
        execution = RunExecution(self, run, flow)
        with self._lock:  # take the slot first: concurrent callers never get past the limit together
            active = len(self._active)
            if active >= self.max_active:
                raise FlowRunLimitError(
                    f"mob {self.mob.id} has {active} active flow runs, the limit is {self.max_active}; wait for one "
                    f"to finish or cancel one (mob/flow_cancel)",
                    details={"mob_id": self.mob.id, "limit": self.max_active, "active": active})
            self._active[run.run_id] = execution
        try:
            self.store.save(run)
        except BaseException:
            self._finished(run.run_id)
            raise
        try:
            execution.thread.start()
        except BaseException as exc:  # out of threads: the stored run must not stay pending forever
            run.status = "failed"
            run.failure_ledger.append(FailureLedgerEntry(step_id=None, cause="internal",
                                                         reason=f"the run could not start: {exc}"))
            try:
                self.store.save(run)
            finally:
                self._finished(run.run_id)
            raise
        return run.run_id

    def status(self, run_id: str) -> MobRun | None:
        """The run as last saved, or ``None`` for a run this mob does not have."""
        try:
            check_run_id(run_id)
        except ValueError as exc:
            raise InvalidInputError(str(exc), details={"run_id": run_id}) from None
        return self.store.get(self.mob.id, run_id)

    def cancel(self, run_id: str, cause: str = "cancel_requested") -> bool:
        """Cancel an active run (it ends ``canceled`` before this returns); ``False`` for a finished or unknown
        run, which is left as it is (no ``flow_canceled`` event)."""
        self.status(run_id)
        with self._lock:
            execution = self._active.get(run_id)
        if execution is None:
            return False
        execution.cancel_cause = cause
        execution.cancel.set()
        execution.done.wait(CANCEL_WAIT_S)
        return execution.run.status == "canceled"

    def wait(self, run_id: str, timeout: float = 30.0) -> MobRun:
        """The run once it is finished; ``TimeoutError`` otherwise."""
        with self._lock:
            execution = self._active.get(run_id)
        if execution is not None and not execution.done.wait(timeout):
            raise TimeoutError(f"mob {self.mob.id}: flow run {run_id} not finished within {timeout:g} s")
        run = self.status(run_id)
        if run is None:
            raise InvalidInputError(f"mob {self.mob.id} has no flow run {run_id}")
        return run

    def active(self) -> list[str]:
        """The ids of the runs still running."""
        with self._lock:
            return list(self._active)

    def stop(self, cause: str = "mob_stopped") -> list[str]:
        """Cancel every active run (a stopped mob runs no steps); returns their ids."""
        active = self.active()
        for run_id in active:
            self.cancel(run_id, cause)
        return active

    def _finished(self, run_id: str) -> None:
        """A run's thread ends: free its slot, then drop the oldest finished runs beyond ``max_finished``."""
        with self._lock:
            self._active.pop(run_id, None)
        try:
            self.store.prune(self.mob.id, self.max_finished)
        except MobkatError as exc:  # a closed or failing store: the next finish or start prunes
            log.warning("mob %s: could not drop old flow runs: %s", self.mob.id, exc)


__all__ = ["MAX_ACTIVE_FLOW_RUNS", "MAX_FINISHED_FLOW_RUNS", "FlowEngine"]
