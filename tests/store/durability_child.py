"""Child process for the store's process-kill tests (run as a script, never imported by pytest).

    durability_child.py DB hang TURNS ROWS SIZE BIG_ROWS   commit TURNS turns, hang inside the next
    durability_child.py DB run ROWS SIZE                   commit turns until killed
    durability_child.py DB writer SESSION TAG TURNS ROWS   on "go" commit TURNS small turns

Turn ``i`` has ``ROWS`` rows with ``run_id="turn-i"`` and text ``"turn-i row j "`` padded to
``SIZE`` bytes (``writer`` mode uses ``TAG`` instead of ``turn``). Lines on stdout, flushed:
``committed <i> <message_count> <wal_bytes>`` after each commit returns, and in ``hang`` mode
``in-transaction <i> <wal_bytes>`` from inside the last transaction, which never commits (its
turn has ``BIG_ROWS`` rows, enough to spill uncommitted pages into the WAL file). ``writer``
prints ``ready`` once open, waits for a line on stdin, commits, then prints ``done``.
"""

from __future__ import annotations

import os
import sys
import threading

from mobkat.history import AssistantBlock, BlockAssistantRow, HistoryRow, UserRow
from mobkat.store import SessionMeta, SqliteSessionStore

SESSION = "durable"


def turn(i: int, rows: int, size: int, tag: str = "turn") -> list[HistoryRow]:
    out: list[HistoryRow] = []
    for j in range(rows):
        text = f"{tag}-{i} row {j} ".ljust(size, "x")
        if j % 2 == 0:
            out.append(UserRow(content=text, run_id=f"{tag}-{i}"))
        else:
            out.append(BlockAssistantRow(blocks=[AssistantBlock.text(text)], run_id=f"{tag}-{i}"))
    return out


def wal_bytes(db: str) -> int:
    try:
        return os.path.getsize(db + "-wal")
    except OSError:
        return 0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    db, mode, *args = argv
    if mode == "writer":
        session, tag, turns, rows = args[0], args[1], int(args[2]), int(args[3])
        with SqliteSessionStore(db) as store:
            say("ready")
            sys.stdin.readline()  # start together with the other writers
            for i in range(turns):
                store.commit_turn(session, turn(i, rows, 64, tag=tag))
        say("done")
        return
    hook_state: dict[str, bool] = {"armed": False}

    def before_commit(session_id: str, turn_index: int) -> None:
        if hook_state["armed"]:
            say(f"in-transaction {turn_index} {wal_bytes(db)}")
            threading.Event().wait()  # never returns: the parent kills us here

    store = SqliteSessionStore(db, _before_commit=before_commit)
    store.create_session(SessionMeta(session_id=SESSION, model="gpt-realtime", provider="openai"))
    say("ready")
    if mode == "hang":
        turns, rows, size, big_rows = (int(a) for a in args)
        for i in range(turns):
            meta = store.get_session(SESSION)
            assert meta is not None
            update = meta.model_copy(update={"metadata": {"last_turn": i}})
            done = store.commit_turn(SESSION, turn(i, rows, size), meta=update, turn_id=f"t{i}")
            say(f"committed {done.turn_index} {done.message_count} {wal_bytes(db)}")
        hook_state["armed"] = True
        store.commit_turn(SESSION, turn(turns, big_rows, size), turn_id=f"t{turns}")
        raise SystemExit("unreachable: the in-flight commit returned")
    if mode == "run":
        rows, size = int(args[0]), int(args[1])
        i = 0
        while True:
            done = store.commit_turn(SESSION, turn(i, rows, size), turn_id=f"t{i}")
            say(f"committed {done.turn_index} {done.message_count} {wal_bytes(db)}")
            i += 1
    raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
