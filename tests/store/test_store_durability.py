"""Process-kill durability: committed turns survive SIGKILL, a half-finished turn never appears."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from store_helpers import meta

from mobkat.history import HistoryRow, UserRow
from mobkat.store import SqliteSessionStore

CHILD = Path(__file__).with_name("durability_child.py")
SESSION = "durable"
WAIT_S = 30.0

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


class Child:
    """A child process whose stdout lines are queued by a reader thread, so waits can time out."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = WAIT_S) -> str:
        """Wait for the next line starting with ``prefix`` (earlier lines are kept in ``seen``)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.kill()
                pytest.fail(f"child printed no {prefix!r} within {timeout}s; stderr: {self.stderr()}")
            if line is None:
                pytest.fail(f"child exited before {prefix!r}; stderr: {self.stderr()}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        """SIGKILL the child, then collect whatever it printed before dying."""
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=WAIT_S) == -signal.SIGKILL
        self._reader.join(timeout=WAIT_S)
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read()[-2000:]


def committed_turns(lines: list[str]) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith("committed ")]


def assert_whole_turns(rows: list[HistoryRow], turns: int, rows_per_turn: int) -> None:
    """History is exactly turns ``0..turns-1``, each complete and with its rows in order."""
    assert len(rows) == turns * rows_per_turn
    for n, row in enumerate(rows):
        i, j = divmod(n, rows_per_turn)
        assert row.run_id == f"turn-{i}", f"row {n} belongs to {row.run_id}, expected turn-{i}"
        assert row.text.startswith(f"turn-{i} row {j} "), f"row {n} is out of order"  # type: ignore[union-attr]


def test_sigkill_inside_the_transaction_keeps_committed_turns_and_drops_the_open_one(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    turns, rows, size, big_rows = 5, 4, 64 * 1024, 64  # the open turn is ~4 MiB: it spills into the WAL
    child = Child(str(db), "hang", str(turns), str(rows), str(size), str(big_rows))
    child.expect("ready")
    for i in range(turns):
        child.expect(f"committed {i} ")
    in_tx = child.expect("in-transaction ")
    child.kill()

    last_commit_wal = int(child.seen[-2].split()[3])
    _, open_turn, open_wal = in_tx.split()
    assert int(open_turn) == turns
    # The uncommitted turn's pages really reached the WAL file on disk before the kill ...
    assert int(open_wal) > last_commit_wal
    assert (tmp_path / "sessions.db-wal").stat().st_size >= int(open_wal)

    # ... yet reopening shows every committed turn, whole and in order, and nothing of the open one.
    with SqliteSessionStore(db) as store:
        assert_whole_turns(store.history(SESSION), turns, rows)
        got = store.get_session(SESSION)
        assert got is not None
        assert got.turn_count == turns
        assert got.metadata == {"last_turn": turns - 1}  # meta committed with its turn
        assert store.message_count(SESSION) == turns * rows
        # The aborted turn left no gap: the next commit takes its index.
        done = store.commit_turn(SESSION, store.history(SESSION, limit=1), turn_id="after-crash")
        assert (done.turn_index, done.message_count) == (turns, turns * rows + 1)


def test_sigkill_at_an_arbitrary_moment_loses_no_reported_turn(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    rows, size = 8, 32 * 1024
    child = Child(str(db), "run", str(rows), str(size))
    child.expect("ready")
    child.expect("committed 9 ")  # a few turns in, the child is busy committing the next one
    child.kill()

    reported = committed_turns(child.seen)
    assert reported == list(range(len(reported)))
    with SqliteSessionStore(db) as store:
        got = store.get_session(SESSION)
        assert got is not None
        # Every reported turn is there; at most one more (committed, killed before it could print).
        assert got.turn_count in (len(reported), len(reported) + 1)
        assert_whole_turns(store.history(SESSION), got.turn_count, rows)


def test_several_processes_commit_to_one_session_without_interleaving(tmp_path: Path) -> None:
    db = tmp_path / "sessions.db"
    writers, turns, rows = 3, 30, 3
    with SqliteSessionStore(db) as store:
        store.create_session(meta("shared"))
        children = [
            Child(str(db), "writer", "shared", f"p{w}", str(turns), str(rows)) for w in range(writers)
        ]
        for child in children:
            child.expect("ready")
        for child in children:
            child.send("go")
        for i in range(turns):  # the parent writes too, through its own connection
            store.commit_turn("shared", child_turn(f"parent-{i}", rows))
        for child in children:
            child.expect("done")
            assert child.proc.wait(timeout=WAIT_S) == 0

        history = store.history("shared")
        assert len(history) == (writers + 1) * turns * rows
        order: list[str] = []
        for start in range(0, len(history), rows):  # each turn's rows are adjacent and in order
            tag = history[start].run_id
            assert tag is not None
            assert [r.text.split(" ")[0:3] for r in history[start : start + rows]] == [  # type: ignore[union-attr]
                [tag, "row", str(j)] for j in range(rows)
            ]
            order.append(tag)
        for prefix in [f"p{w}" for w in range(writers)] + ["parent"]:
            assert [t for t in order if t.startswith(prefix + "-")] == [f"{prefix}-{i}" for i in range(turns)]
        got = store.get_session("shared")
        assert got is not None and got.turn_count == (writers + 1) * turns


def child_turn(tag: str, rows: int) -> list[HistoryRow]:
    """A turn shaped like the child's (``"<tag> row <j> "`` texts, ``run_id=tag``)."""
    return [UserRow(content=f"{tag} row {j} ", run_id=tag) for j in range(rows)]
