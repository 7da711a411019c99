"""The lifecycle and persistence methods of :class:`~mobkat.mob.mob.Mob` (a mixin): ``Mob.open``, ``state``,
``epoch``, ``lifecycle``, and opening, restoring and closing the mob's records (see :mod:`mobkat.mob.lifecycle`,
:mod:`mobkat.mob.persistence`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobkat.catalog import Catalog
from mobkat.config import load_config
from mobkat.errors import InvalidInputError, InvalidTransitionError, MobError, MobNotFoundError
from mobkat.mob.definition import MobDefinition
from mobkat.mob.lifecycle import EVENTS, LifecycleAction, next_state, require_running
from mobkat.mob.persistence import EventJournal
from mobkat.mob.supervisor import NAME
from mobkat.store.mob_records import MOBS_DB, MemoryMobRecordStore, MobRecord, MobRecordStore, MobState
from mobkat.store.mob_sqlite import SqliteMobRecordStore

if TYPE_CHECKING:
    from mobkat.mob.events import EventLog
    from mobkat.mob.mob import Mob
    from mobkat.session import SessionServices


class LifecycleMixin:
    """The mob's lifecycle state and its records (set up by ``Mob.__init__`` and ``Mob.start``)."""

    records: MobRecordStore | None = None
    _given_records: MobRecordStore | None = None
    _fresh: bool = False
    _journal: EventJournal | None = None
    _state: MobState = "Creating"
    _epoch: int = 0
    _lifecycle_lock: threading.Lock
    if TYPE_CHECKING:  # provided by Mob
        definition: MobDefinition
        events_log: EventLog
        services: SessionServices
        ask_timeout: float
        _state_root: Path | None
        _supervisor_proxy: Any
        _member_proxies: dict[str, Any]
        _flows: Any

        @property
        def id(self) -> str: ...

        @property
        def uses_simulator(self) -> bool: ...

        def _supervise(self, method: str, *args: Any, timeout: float | None = None) -> Any: ...

        def stop(self) -> None: ...

        def active_flow_runs(self) -> list[str]: ...

    @classmethod
    def open(cls, mob_id: str, *, state_root: str | os.PathLike[str], **kwargs: Any) -> Mob:
        """Reopen a mob kept under ``state_root`` (by a ``Mob(..., state_root=...)`` that ran before); call
        :meth:`start` to restore it: its state, members (on their sessions, generation + 1) and events."""
        if not NAME.fullmatch(mob_id):
            raise InvalidInputError(f"mob id {mob_id!r} is not a valid identifier")
        path = Path(state_root) / mob_id / MOBS_DB
        if not path.is_file():
            raise MobNotFoundError(f"mob not found: {mob_id} (no {path})", details={"mob_id": mob_id})
        records = SqliteMobRecordStore(path)
        try:
            record = records.get_mob(mob_id)
            if record is None:
                raise MobNotFoundError(f"mob not found: {mob_id} (not in {path})", details={"mob_id": mob_id})
            catalog = Catalog.default().with_config(load_config())
            definition = MobDefinition.from_dict(record.definition, base_dir=record.base_dir, catalog=catalog)
        finally:
            records.close()
        make: Any = cls
        mob: Mob = make(definition, state_root=state_root, **kwargs)
        return mob

    def _records(self) -> MobRecordStore:
        assert self.records is not None
        return self.records

    def _open_records(self) -> MobRecord | None:
        """Open (or create) the mob's record; the stored one when it exists (then returned: to restore)."""
        if self.records is None:
            self.records = (SqliteMobRecordStore(self._state_root / self.id / MOBS_DB)
                            if self._state_root is not None else MemoryMobRecordStore())
        records = self.records
        if self._fresh:
            records.delete_mob(self.id)
        stored = records.get_mob(self.id)
        if stored is None:
            records.create_mob(MobRecord(mob_id=self.id, definition=self.definition.to_json(),
                                         base_dir=str(self.definition.base_dir)))
            self._state = "Running"
        else:
            self._state, self._epoch = stored.state, stored.epoch
            records.update_mob(self.id, definition=self.definition.to_json())
            self.events_log.preload(records.events(self.id))
        if records.durable:
            self._journal = EventJournal(records, self.id)
            self.events_log.sink = self._journal
        return stored

    def _restore(self, stored: MobRecord) -> None:
        """After a restart: ``mob_restored``, then (a Running mob) every member back with ``member_restored``."""
        records = self._records()
        rows = records.members(self.id)
        previous = self.events_log.latest
        self.events_log.append("mob_restored", state=self._state, epoch=self._epoch, previous_cursor=previous,
                               members=[row.name for row in rows], simulator=self.uses_simulator)
        if self._state == "Running":
            self._supervise("restore", rows, records.edges(self.id), "restart", timeout=self.ask_timeout * 4)

    def _close_records(self) -> None:
        journal, self._journal = self._journal, None
        self.events_log.sink = None
        if journal is not None:
            journal.close()
        if self._given_records is None and self.records is not None:
            self.records.close()
            self.records = None

    # -- the mob lifecycle (mobkat.mob.lifecycle) ----------------------------------------------------------
    @property
    def state(self) -> MobState:
        """``Running``, ``Stopped``, ``Completed`` (``Destroyed`` once destroyed; ``Creating`` before start)."""
        return self._state

    @property
    def epoch(self) -> int:
        """How many times the mob was reset."""
        return self._epoch

    def lifecycle(self, action: LifecycleAction) -> MobState:
        """Apply ``stop|resume|complete|reset|destroy`` (see :mod:`mobkat.mob.lifecycle`); returns the new state.
        An action the current state does not allow is an ``InvalidTransitionError`` naming that state."""
        ray_link = getattr(self, "_ray", None)
        if ray_link is not None:  # the mob itself runs in its head actor on the cluster
            state: MobState = ray_link.mob_call("lifecycle", action, timeout=self.ask_timeout * 8)
            self._state = state
            return state
        with self._lifecycle_lock:
            if self._supervisor_proxy is None:
                raise MobError(f"mob {self.id} is not running; call start() first")
            target = next_state(self.id, self._state, action)
            running = self.active_flow_runs() if action == "stop" else []
            if running:  # upstream: stop is refused while a flow run is active
                raise InvalidTransitionError(
                    f"invalid state transition: mob {self.id} has {len(running)} active flow run(s) "
                    f"({', '.join(running)}), so stop is refused; cancel them (mob/flow_cancel) or wait for them",
                    details={"mob_id": self.id, "state": self._state, "action": action, "active_runs": running})
            records, slow = self._records(), self.ask_timeout * 4
            if action == "stop":
                self._set_state(target)
                names = self._supervise("drop_roster", timeout=slow)
                self._member_proxies.clear()
                self.events_log.append("mob_stopped", members=names, state=target)
            elif action == "resume":
                self._set_state(target)
                names = self._supervise("restore", records.members(self.id), records.edges(self.id), "resume",
                                        timeout=slow)
                self.events_log.append("mob_resumed", members=names, state=target)
            elif action in ("complete", "reset"):
                self._cancel_flow_runs(EVENTS[action])
                if self._state == "Stopped":  # no member actor runs: retire the stored roster as it is
                    names = self._retire_stored(archive=action == "complete")
                else:
                    names = self._supervise("retire_all", action == "complete", timeout=slow)
                self._member_proxies.clear()
                if action == "reset":
                    self._epoch += 1
                self._set_state(target)
                self.events_log.append(EVENTS[action], retired=names, state=target, epoch=self._epoch)
            else:
                self._cancel_flow_runs("mob_destroyed")
                if self._state == "Stopped":
                    self._retire_stored(archive=False)
                else:
                    self._supervise("retire_all", False, timeout=slow)
                self.events_log.append("mob_destroyed", state=target)
                self._state = target
                journal, self._journal = self._journal, None
                self.events_log.sink = None
                if journal is not None:
                    journal.close()  # what it has is written, then the mob's records go
                records.delete_mob(self.id)
                self.stop()
            return self._state

    def _cancel_flow_runs(self, cause: str) -> None:
        """Complete, reset and destroy cancel the flow runs in flight (``flow_canceled`` with ``cause``)."""
        flows = self._flows
        if flows is not None:
            for run_id in flows.active():
                flows.cancel(run_id, cause)

    def _retire_stored(self, archive: bool) -> list[str]:
        """Retire the members of a stopped mob: their roster entries go (``member_retired`` each)."""
        records = self._records()
        rows = records.members(self.id)
        for row in rows:
            if archive:
                self.services.store.archive_session(row.session_id)
            self.events_log.append("member_retired", member=row.name, role=row.profile, generation=row.generation)
        records.clear_roster(self.id)
        return [row.name for row in rows]

    def _set_state(self, state: MobState) -> None:
        self._records().update_mob(self.id, state=state, epoch=self._epoch)
        self._state = state

    def _require_running(self, operation: str) -> None:
        if self._supervisor_proxy is not None:
            require_running(self.id, self._state, operation)



__all__ = ["LifecycleMixin"]
