"""Project-wide fixtures: a simulator, session services wired to it, and a leak check for threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobkat.config import MobkatConfig
from mobkat.session import SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    """A fresh simulator per test, so scripted faults and rules never leak between tests."""
    with Simulator() as sim:
        yield sim


@pytest.fixture
def services(simulator: Simulator, tmp_path: Path) -> Iterator[SessionServices]:
    """Session services on a temporary SQLite store, sending every provider call to the simulator."""
    store = SqliteSessionStore(tmp_path / "sessions.db")
    svc = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url).start()
    yield svc
    svc.close()
    store.close()


def live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive() and t is not threading.main_thread()}


@pytest.fixture
def no_thread_leaks() -> Iterator[None]:
    """Fails the test if it leaves a thread running that was not there before it."""
    before = live_threads()
    yield
    deadline = threading.Event()
    for _ in range(50):
        leaked = {t for t in live_threads() - before if not t.daemon or t.name.startswith(("mobkat", "pykka"))}
        if not leaked:
            return
        deadline.wait(0.1)
    raise AssertionError(f"threads left running: {sorted(t.name for t in leaked)}")
