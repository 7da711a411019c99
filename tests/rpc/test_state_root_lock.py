"""One server per state root and realm: a second one is refused, naming the first's pid; a crash frees it."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from mobkat.client import MobkatClient
from mobkat.errors import RealmLockedError
from mobkat.rpc.realm_lock import LOCK_FILE, RealmLock, holder_pid
from mobkat.rpc.realms import Realm
from tests.rpc.helpers import TcpServer, exit_of, run_cli


def test_a_second_server_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    flags = ["--simulator", "--state-root", str(tmp_path), "--realm", "shared"]
    lock_file = tmp_path / "realms" / "shared" / LOCK_FILE
    first = TcpServer(flags)
    try:
        assert holder_pid(lock_file) == first.process.pid
        code, lines = exit_of(run_cli("--tcp", "127.0.0.1:0", *flags))
        assert code == 1, lines
        assert len(lines) == 1, lines  # refused at start, before the simulator or a listener
        assert lines[0].startswith("mobkat rpc: error: realm 'shared'")
        assert f"pid {first.process.pid}" in lines[0] and str(lock_file) in lines[0]

        os.kill(first.process.pid, signal.SIGKILL)  # a crash: the kernel releases the flock
        assert first.process.wait(10) == -signal.SIGKILL
        assert holder_pid(lock_file) == first.process.pid  # the dead holder's pid is still written ...
        third = TcpServer(flags)  # ... but nothing holds the lock any more
        try:
            assert holder_pid(lock_file) == third.process.pid
            asyncio.run(_serves(third.address))
        finally:
            assert third.stop() == 0
        assert holder_pid(lock_file) is None  # a clean stop clears the pid
    finally:
        if first.process.poll() is None:
            first.stop()


async def _serves(address: str) -> None:
    async with await MobkatClient().connect(tcp=address) as client:
        assert (await client.get_config()).realm_id == "shared"


def test_memory_realms_take_no_lock_and_isolated_realms_take_their_own(tmp_path: Path) -> None:
    flags = ["--simulator", "--state-root", str(tmp_path), "--realm", "mem", "--realm-backend", "memory"]
    first = TcpServer(flags)
    try:
        second = TcpServer(flags)  # nothing on disk to share: both serve
        assert second.stop() == 0
    finally:
        assert first.stop() == 0
    assert not (tmp_path / "realms" / "mem").exists()

    isolated = Realm.resolve(realm_id=None, isolated=True, state_root=tmp_path)
    with isolated.lock() as held:  # type: ignore[union-attr]
        assert held.path == isolated.root / LOCK_FILE
        named = Realm.resolve(realm_id=isolated.realm_id, isolated=False, state_root=tmp_path)
        with pytest.raises(RealmLockedError, match=f"pid {os.getpid()}"):
            named.lock()  # naming a running isolated realm does not get around its lock
    assert Realm.resolve(realm_id="m", isolated=False, state_root=tmp_path, backend="memory").lock() is None


def test_the_lock_is_per_open_file_and_released_by_release(tmp_path: Path) -> None:
    held = RealmLock.acquire(tmp_path / "r", realm_id="r")
    with pytest.raises(RealmLockedError) as refused:
        RealmLock.acquire(tmp_path / "r", realm_id="r")
    assert refused.value.details == {"realm_id": "r", "pid": os.getpid(), "lock_file": str(held.path)}
    assert refused.value.code == "realm_locked"
    held.release()
    held.release()  # idempotent
    with RealmLock.acquire(tmp_path / "r", realm_id="r") as again:
        assert again.held and holder_pid(again.path) == os.getpid()
