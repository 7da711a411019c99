"""State shared by the ``Simulator`` facade (any thread) and its connections (the loop thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from mobkat.simulator.script import ErrorSpec, SimulatorScript
from mobkat.simulator.stats import SimulatorStats


class LiveConnection(Protocol):
    """What the control needs from an open realtime connection."""

    def wake(self) -> None: ...

    async def inject_error(self, spec: ErrorSpec) -> None: ...

    async def expire(self) -> None: ...

    def drop(self) -> None: ...


class SimulatorControl:
    """The live script, fault bookkeeping, stats and the registry of open connections."""

    def __init__(self, script: SimulatorScript, *, record_frames: bool = True) -> None:
        self._lock = threading.RLock()
        self._script = script
        self._drop_version = 0
        self.stats = SimulatorStats(record_frames=record_frames)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[int, LiveConnection] = {}

    @property
    def script(self) -> SimulatorScript:
        with self._lock:
            return self._script

    @script.setter
    def script(self, script: SimulatorScript) -> None:
        with self._lock:
            self._script = script
            self._drop_version += 1
        self.notify()

    @property
    def drop_version(self) -> int:
        """Bumped whenever the drop fault is (re)set through the simulator: drop countdowns restart."""
        with self._lock:
            return self._drop_version

    def change_faults(self, **changes: Any) -> None:
        """Set fault fields (validated) and tell every connection."""
        with self._lock:
            for name, value in changes.items():
                setattr(self._script.faults, name, value)
            if "drop_after_events" in changes:
                self._drop_version += 1
        self.notify()

    def drop_fired(self) -> None:
        """A connection was dropped by the drop fault: clear it if it fires once."""
        with self._lock:
            faults = self._script.faults
            if faults.drop_once and faults.drop_after_events is not None:
                faults.drop_after_events = None
                self._drop_version += 1

    def take_pending_errors(self) -> list[ErrorSpec]:
        with self._lock:
            pending = list(self._script.faults.pending_errors)
            self._script.faults.pending_errors = []
            return pending

    def register(self, number: int, connection: LiveConnection) -> None:
        with self._lock:
            self._connections[number] = connection

    def unregister(self, number: int) -> None:
        with self._lock:
            self._connections.pop(number, None)

    def connections(self) -> list[LiveConnection]:
        with self._lock:
            return list(self._connections.values())

    # -- cross-thread scheduling -------------------------------------------------------------
    def notify(self) -> None:
        """Wake every connection so it re-reads the script (timers, faults)."""

        def wake_all() -> None:
            for connection in self.connections():
                connection.wake()

        self.call_on_loop(wake_all)

    def call_on_loop(self, fn: Callable[[], object]) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn)

    def spawn(self, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run a coroutine made by ``factory`` as a task on the simulator's loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(lambda: loop.create_task(factory()))

    def send_error(self, spec: ErrorSpec) -> int:
        """Send ``spec`` on every open connection now; queue it for the next one if none is open."""
        connections = self.connections()
        if not connections:
            with self._lock:
                self._script.faults.pending_errors = [*self._script.faults.pending_errors, spec]
            return 0
        for connection in connections:
            self.spawn(lambda c=connection: c.inject_error(spec))  # type: ignore[misc]
        return len(connections)

    def drop_all(self) -> int:
        """Cut every open connection now (no close frame); returns how many."""
        connections = self.connections()
        for connection in connections:
            self.call_on_loop(connection.drop)
        return len(connections)

    def expire_all(self) -> int:
        connections = self.connections()
        for connection in connections:
            self.spawn(connection.expire)
        return len(connections)
