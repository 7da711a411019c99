"""A turn's commit runs off the I/O loop (the loop serves other work meanwhile), the turn returns only after it,
and an interrupt that arrives while the commit runs finds the turn committed, not cancelled."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from mobkat.config import MobkatConfig
from mobkat.history import HistoryRow
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import CommittedTurn, MemorySessionStore, SessionMeta


class HeldStore(MemorySessionStore):
    """Holds a turn's ``commit_turn`` until ``release`` is set (once ``hold`` is set), noting its thread."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads: list[str] = []

    def commit_turn(self, session_id: str, rows: Sequence[HistoryRow], *, meta: SessionMeta | None = None,
                    turn_id: str | None = None) -> CommittedTurn:
        self.threads.append(threading.current_thread().name)
        if self.hold.is_set():
            self.entered.set()
            assert self.release.wait(10)
        return super().commit_turn(session_id, rows, meta=meta, turn_id=turn_id)


@pytest.fixture
def held(simulator: Simulator) -> Iterator[tuple[HeldStore, SessionServices]]:
    store = HeldStore()
    services = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url).start()
    yield store, services
    store.release.set()
    services.close()


async def _loop_thread() -> str:
    return threading.current_thread().name


def test_the_commit_runs_off_the_loop_and_the_turn_returns_after_it(held: tuple[HeldStore, SessionServices]) -> None:
    store, services = held
    session = Session.create(services, model="gpt-5.5")
    store.hold.set()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        turn = pool.submit(session.run_turn, "hello")
        assert store.entered.wait(10)
        loop_thread = services.runtime.run(_loop_thread(), 5)  # the loop serves other work meanwhile
        assert store.threads and store.threads[-1] != loop_thread
        assert not turn.done() and session.message_count == 0  # no result before the commit
        store.release.set()
        result: Any = turn.result(10)
    assert result.text == "You said: hello" and session.message_count == 2


def test_a_cancel_during_the_commit_finds_the_turn_committed(held: tuple[HeldStore, SessionServices]) -> None:
    """What ``SessionHandle.interrupt_turn`` does (``task.cancel()``), delivered while the commit runs: the turn
    completes with its result, not cancelled, and no cancel is left pending on its task."""
    store, services = held
    session = Session.create(services, model="gpt-5.5")
    store.hold.set()

    async def start() -> asyncio.Task[Any]:
        return asyncio.ensure_future(session.run_turn_async("hello"))

    async def cancel(task: asyncio.Task[Any]) -> None:
        task.cancel()  # its CancelledError is thrown in before the commit can finish (released below)

    async def outcome(task: asyncio.Task[Any]) -> tuple[Any, bool, int]:
        await asyncio.wait({task})
        return task.result(), task.cancelled(), task.cancelling()

    task = services.runtime.run(start(), 5)
    assert store.entered.wait(10)
    services.runtime.run(cancel(task), 5)
    store.release.set()
    result, cancelled, cancelling = services.runtime.run(outcome(task), 10)
    assert result.text == "You said: hello" and not cancelled and cancelling == 0
    assert store.message_count(session.id) == 2 and session.message_count == 2 and not session.running
    store.hold.clear()
    assert session.run_turn("again").text == "You said: again"
