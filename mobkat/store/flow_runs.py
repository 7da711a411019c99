"""Flow runs, durable: one SQLite file (``flow_runs.db`` beside ``sessions.db``), one transaction per change
of a run (the whole record is rewritten: runs are small), WAL with ``synchronous=FULL`` as the session store.

A run that was ``pending`` or ``running`` when its server died has lost its executor: :func:`fail_interrupted`
marks it ``failed`` with cause ``server_restarted`` (a mob's flow engine calls it when it starts).

Finished runs are not kept forever: :meth:`FlowRunStore.prune` drops a mob's oldest finished runs (by when
they were last saved, i.e. when they finished) beyond a number to keep; the flow engine calls it whenever
a run finishes and when it starts (``mobkat.mob.flow_engine.MAX_FINISHED_FLOW_RUNS``)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from mobkat.errors import StoreError
from mobkat.history import utc_now
from mobkat.wire.flows import TERMINAL, FailureLedgerEntry, MobRun, StepLedgerEntry

FLOW_RUNS_DB = "flow_runs.db"
SERVER_RESTARTED = "the server restarted while the run was active; its in-flight steps were not resumed"

_SCHEMA = """CREATE TABLE IF NOT EXISTS flow_runs (
    mob_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (mob_id, run_id)
)"""


_FINISHED = tuple(sorted(TERMINAL))
_IS_FINISHED = f"status IN ({', '.join('?' * len(_FINISHED))})"
_PRUNE = (f"DELETE FROM flow_runs WHERE mob_id = ? AND {_IS_FINISHED} AND rowid NOT IN ("
          f"SELECT rowid FROM flow_runs WHERE mob_id = ? AND {_IS_FINISHED} "
          f"ORDER BY updated_at DESC, rowid DESC LIMIT ?)")


class FlowRunStore(Protocol):
    """Where a mob's flow runs are kept."""

    def save(self, run: MobRun) -> None: ...

    def get(self, mob_id: str, run_id: str) -> MobRun | None: ...

    def runs(self, mob_id: str) -> list[MobRun]: ...

    def delete(self, mob_id: str) -> int: ...

    def prune(self, mob_id: str, keep: int) -> int:
        """Delete the finished runs of ``mob_id`` but the ``keep`` most recently saved; how many went."""
        ...

    def close(self) -> None: ...


class MemoryFlowRunStore:
    """Runs in memory (a mob without a state root), in the order they were last saved."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str], tuple[str, str]] = {}  # (mob, run) -> (status, record)
        self._lock = threading.Lock()

    def save(self, run: MobRun) -> None:
        with self._lock:
            self._runs.pop((run.mob_id, run.run_id), None)  # re-insert: the dict's order is the save order
            self._runs[(run.mob_id, run.run_id)] = (run.status, run.model_dump_json())

    def get(self, mob_id: str, run_id: str) -> MobRun | None:
        with self._lock:
            found = self._runs.get((mob_id, run_id))
        return None if found is None else MobRun.model_validate_json(found[1])

    def runs(self, mob_id: str) -> list[MobRun]:
        with self._lock:
            texts = [text for (mob, _), (_, text) in self._runs.items() if mob == mob_id]
        return [MobRun.model_validate_json(text) for text in texts]

    def prune(self, mob_id: str, keep: int) -> int:
        """Delete the finished runs of ``mob_id`` but the ``keep`` most recently saved; how many went."""
        with self._lock:
            finished = [key for key, (status, _) in self._runs.items() if key[0] == mob_id and status in TERMINAL]
            doomed = finished[:max(len(finished) - max(keep, 0), 0)]
            for key in doomed:
                del self._runs[key]
        return len(doomed)

    def delete(self, mob_id: str) -> int:
        """Forget every run of ``mob_id`` (a destroyed mob); how many there were."""
        with self._lock:
            keys = [key for key in self._runs if key[0] == mob_id]
            for key in keys:
                del self._runs[key]
        return len(keys)

    def close(self) -> None:
        pass


class SqliteFlowRunStore:
    """Runs in ``path`` (created if missing); safe across threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                f"file:{quote(str(self.path.absolute()))}?mode=rwc", uri=True, timeout=10.0,
                isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open flow-run store {self.path}: {exc}",
                             details={"path": str(self.path)}) from exc

    @contextmanager
    def _cursor(self, operation: str, write: bool) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"flow-run store {self.path} is closed")
            cur = self._conn.cursor()
            try:
                if write:
                    cur.execute("BEGIN IMMEDIATE")
                yield cur
                if write:
                    cur.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.rollback()
                raise StoreError(f"flow-run store {self.path}: {operation} failed: {exc}",
                                 details={"path": str(self.path), "operation": operation}) from exc

    def save(self, run: MobRun) -> None:
        with self._cursor("save", write=True) as cur:
            cur.execute("INSERT INTO flow_runs (mob_id, run_id, status, updated_at, record) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (mob_id, run_id) DO UPDATE SET status = excluded.status, "
                        "updated_at = excluded.updated_at, record = excluded.record",
                        (run.mob_id, run.run_id, run.status, utc_now(), run.model_dump_json()))

    def get(self, mob_id: str, run_id: str) -> MobRun | None:
        with self._cursor("get", write=False) as cur:
            found = cur.execute("SELECT record FROM flow_runs WHERE mob_id = ? AND run_id = ?",
                                (mob_id, run_id)).fetchone()
        return None if found is None else MobRun.model_validate_json(found[0])

    def runs(self, mob_id: str) -> list[MobRun]:
        with self._cursor("runs", write=False) as cur:
            rows = cur.execute("SELECT record FROM flow_runs WHERE mob_id = ? ORDER BY rowid", (mob_id,)).fetchall()
        return [MobRun.model_validate_json(row[0]) for row in rows]

    def delete(self, mob_id: str) -> int:
        """Forget every run of ``mob_id`` (a destroyed mob), in one transaction; how many there were."""
        with self._cursor("delete", write=True) as cur:
            return int(cur.execute("DELETE FROM flow_runs WHERE mob_id = ?", (mob_id,)).rowcount)

    def prune(self, mob_id: str, keep: int) -> int:
        """Delete the finished runs of ``mob_id`` but the ``keep`` most recently saved (``updated_at``, then
        insertion order), in one transaction; how many went."""
        with self._cursor("prune", write=True) as cur:
            return int(cur.execute(_PRUNE, (mob_id, *_FINISHED, mob_id, *_FINISHED, max(keep, 0))).rowcount)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def fail_interrupted(store: FlowRunStore, mob_id: str) -> list[MobRun]:
    """Mark every unfinished run of ``mob_id`` failed (cause ``server_restarted``); returns them, as stored.
    Call it when a mob starts over a store that outlived its previous process, before any run starts."""
    failed = []
    for run in store.runs(mob_id):
        if run.status in TERMINAL:
            continue
        run.status = "failed"
        latest = {entry.step_id: entry.status for entry in run.step_ledger}
        for step_id, status in latest.items():
            if status == "dispatched":
                run.step_ledger.append(StepLedgerEntry(step_id=step_id, status="failed", reason=SERVER_RESTARTED))
        run.failure_ledger.append(FailureLedgerEntry(step_id=None, cause="server_restarted", reason=SERVER_RESTARTED))
        store.save(run)
        failed.append(run)
    return failed


__all__ = ["FLOW_RUNS_DB", "SERVER_RESTARTED", "FlowRunStore", "MemoryFlowRunStore", "SqliteFlowRunStore",
           "fail_interrupted"]
