"""The flow methods of :class:`~mobkat.mob.mob.Mob` (a mixin: ``Mob.flows``, ``run_flow``, ``run``,
``flow_status``, ``run_result``, ``cancel_flow``, ``wait_flow``), and where a mob keeps its flow runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from mobkat.errors import MobError
from mobkat.mob.flow_engine import MAX_ACTIVE_FLOW_RUNS, MAX_FINISHED_FLOW_RUNS, FlowEngine
from mobkat.mob.lifecycle import require_running
from mobkat.store import SqliteSessionStore
from mobkat.store.flow_runs import FLOW_RUNS_DB, FlowRunStore, MemoryFlowRunStore, SqliteFlowRunStore
from mobkat.wire.flows import MobRun, RunResultEnvelope

if TYPE_CHECKING:
    from mobkat.mob.mob import Mob


class FlowRunner(Protocol):
    """What runs a mob's flows: its :class:`FlowEngine`, or (``engine="ray"``) the one in the mob's head actor."""

    def flows(self) -> list[str]: ...

    def run_flow(self, flow_id: str, params: dict[str, Any] | None = None) -> str: ...

    def status(self, run_id: str) -> MobRun | None: ...

    def cancel(self, run_id: str, cause: str = "cancel_requested") -> bool: ...

    def wait(self, run_id: str, timeout: float = 30.0) -> MobRun: ...

    def active(self) -> list[str]: ...

    def stop(self, cause: str = "mob_stopped") -> list[str]: ...


class FlowsMixin:
    """Flow runs of a running mob (see docs/flows.md). ``flow_runs`` (set before ``start``) overrides where
    runs are kept: by default ``<state_root>/<id>/flow_runs.db``, else ``flow_runs.db`` beside the SQLite
    session store of shared services (a server's realm), else memory. ``max_active_flow_runs`` (default 16) and
    ``max_finished_flow_runs`` (default 256), also set before ``start``, bound the runs a mob has at once and the
    finished runs it keeps (:mod:`mobkat.mob.flow_engine`)."""

    flow_runs: FlowRunStore | None = None
    max_active_flow_runs: int = MAX_ACTIVE_FLOW_RUNS
    max_finished_flow_runs: int = MAX_FINISHED_FLOW_RUNS
    _flows: FlowRunner | None = None
    _own_flow_runs: bool = False

    def _start_flows(self) -> None:
        """Open the run store and start the engine: runs left unfinished by a previous process are marked
        failed (``server_restarted``). Call at the end of ``start`` (after a restore)."""
        mob = cast("Mob", self)
        if self.flow_runs is None:
            self.flow_runs, self._own_flow_runs = _open_flow_runs(mob), True
        self._flows = FlowEngine(mob, self.flow_runs, max_active=self.max_active_flow_runs,
                                 max_finished=self.max_finished_flow_runs)
        self._flows.start()

    def _stop_flows(self) -> None:
        """Cancel active runs (cause ``mob_stopped``) and close the run store if the mob opened it."""
        flows, self._flows = self._flows, None
        if flows is not None:
            flows.stop()
        if self._own_flow_runs and self.flow_runs is not None:
            self.flow_runs.close()
            self.flow_runs, self._own_flow_runs = None, False

    def active_flow_runs(self) -> list[str]:
        """Runs still running (for lifecycle rules: upstream refuses ``stop`` while there are any)."""
        return self._flows.active() if self._flows is not None else []

    def cancel_flows(self, cause: str = "mob_stopped") -> list[str]:
        """Cancel every active run with ``cause`` (upstream: ``complete`` and ``destroy`` do); their ids."""
        return self._flows.stop(cause) if self._flows is not None else []

    def forget_flow_runs(self) -> int:
        """Cancel active runs and delete every stored run of this mob (for ``destroy``); how many were stored."""
        self.cancel_flows("mob_destroyed")
        return self.flow_runs.delete(cast("Mob", self).id) if self.flow_runs is not None else 0

    @property
    def flow_engine(self) -> FlowRunner:
        if self._flows is None:
            raise MobError(f"mob {cast('Mob', self).id} is not running; call start() first")
        return self._flows

    def flows(self) -> list[str]:
        """The definition's flow ids, in authoring order."""
        return self.flow_engine.flows()

    def run_flow(self, flow_id: str, params: dict[str, Any] | None = None) -> str:
        """Start a run of ``flow_id`` (persisted before this returns); returns its run id. The mob must be
        ``Running`` (else ``InvalidTransitionError``, as upstream) and have fewer than ``max_active_flow_runs``
        active runs (else ``FlowRunLimitError``)."""
        engine = self.flow_engine
        mob = cast("Mob", self)
        require_running(mob.id, mob.state, "run_flow")
        return engine.run_flow(flow_id, params)

    def run(self, prompt: str | None = None, params: dict[str, Any] | None = None, flow_id: str = "main") -> str:
        """:meth:`run_flow` with ``prompt`` as ``params.prompt`` (unless ``params`` has one)."""
        params = dict(params or {})
        if prompt is not None:
            params.setdefault("prompt", prompt)
        return self.run_flow(flow_id, params)

    def flow_status(self, run_id: str) -> MobRun | None:
        """The run (status, step ledger, outputs), or ``None`` for an unknown run (or a finished one dropped to
        keep ``max_finished_flow_runs``)."""
        return self.flow_engine.status(run_id)

    def run_result(self, run_id: str) -> RunResultEnvelope | None:
        """The run's outputs by step and its result (the single output, else ``{"steps": outputs}``)."""
        run = self.flow_engine.status(run_id)
        return None if run is None else run.result_envelope()

    def cancel_flow(self, run_id: str) -> bool:
        """Cancel an active run (``canceled`` when this returns); ``False``, and nothing changes, for a
        finished one."""
        return self.flow_engine.cancel(run_id)

    def wait_flow(self, run_id: str, timeout: float = 30.0) -> MobRun:
        """The run once it has finished (completed, failed or canceled); ``TimeoutError`` otherwise."""
        return self.flow_engine.wait(run_id, timeout)


def _open_flow_runs(mob: Mob) -> FlowRunStore:
    state_root: Path | None = getattr(mob, "_state_root", None)
    if state_root is not None:
        return SqliteFlowRunStore(Path(state_root) / mob.id / FLOW_RUNS_DB)
    store = mob.services.store
    if isinstance(store, SqliteSessionStore):
        return SqliteFlowRunStore(store.path.parent / FLOW_RUNS_DB)
    return MemoryFlowRunStore()


__all__ = ["FlowsMixin"]
