"""A damaged realm store through a real server: one bad session never takes the realm down, and an
emptied database is refused at start instead of silently serving an empty realm."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mobkat.client import MobkatClient, MobkatClientError
from mobkat.history import UserRow, row_text
from mobkat.store import SessionMeta, SqliteSessionStore
from tests.rpc.helpers import TcpServer, exit_of, run_cli


def _seed(db: Path) -> None:
    """Sessions ok, bad_row (row 1 undecodable) and bad_record (metadata undecodable), 2 rows each."""
    with SqliteSessionStore(db) as store:
        for n, session_id in enumerate(("ok", "bad_row", "bad_record")):
            store.create_session(SessionMeta(session_id=session_id, model="gpt-5.5", provider="openai",
                                             created_at=f"2025-01-0{n + 1}T00:00:00.000000Z"))
            store.commit_turn(session_id, [UserRow(content=f"{session_id} one"), UserRow(content=f"{session_id} two")])
    raw = sqlite3.connect(db)
    raw.execute("UPDATE messages SET row = x'c1' WHERE session_id = 'bad_row' AND seq = 1")
    raw.execute("UPDATE sessions SET meta = x'c1' WHERE id = 'bad_record'")
    raw.commit()
    raw.close()


def test_one_bad_session_fails_alone(tmp_path: Path) -> None:
    _seed(tmp_path / "realms" / "r" / "sessions.db")
    server = TcpServer(["--simulator", "--state-root", str(tmp_path), "--realm", "r"])
    try:
        asyncio.run(_one_bad_session_fails_alone(server.address))
        # the operator's log says which sessions session/list left out, and why
        assert "sessions['bad_record']" in server.stderr.wait_for(r"(leaving session bad_record out of the list.*)")
        assert "history row 1" in server.stderr.wait_for(r"(session/list: leaving session bad_row out.*)")
    finally:
        assert server.stop() == 0


async def _one_bad_session_fails_alone(address: str) -> None:
    async with await MobkatClient().connect(tcp=address) as client:
        assert [s.session_id for s in await client.list_sessions()] == ["ok"]
        assert (await client.read_session_history("ok")).message_count == 2
        assert row_text((await client.read_session_history("bad_row", limit=1)).messages[0]) == "bad_row one"
        with pytest.raises(MobkatClientError) as bad_row:
            await client.read_session_history("bad_row")
        assert (bad_row.value.rpc_code, bad_row.value.code) == (-32603, "store_corrupt")
        assert bad_row.value.details["session_id"] == "bad_row" and bad_row.value.details["row_index"] == 1
        assert bad_row.value.message.startswith("session bad_row: history row 1 cannot be decoded")
        for read in (client.read_session("bad_record"), client.read_session_history("bad_record"),
                     client.start_turn("bad_record", "hello?")):
            with pytest.raises(MobkatClientError) as bad_record:
                await read
            assert bad_record.value.code == "store_corrupt" and bad_record.value.details["session_id"] == "bad_record"
        later = await client.start_turn("ok", "still here?")  # the realm goes on
        assert later.session_id == "ok"


def test_an_emptied_database_is_refused_at_start(tmp_path: Path) -> None:
    db = tmp_path / "realms" / "r" / "sessions.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    code, lines = exit_of(run_cli("--tcp", "127.0.0.1:0", "--simulator", "--state-root", str(tmp_path), "--realm", "r"))
    assert code == 1 and len(lines) == 2, lines  # the simulator's line, then the refusal
    assert lines[-1].startswith(f"mobkat rpc: error: session store {db} is empty (0 bytes)")
    assert db.stat().st_size == 0
