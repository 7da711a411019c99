"""One asyncio event loop in its own thread: where all of mobkat's network I/O runs.

Actors (threads) hand coroutines to it with :meth:`AsyncRuntime.submit` / :meth:`run`;
the loop hands results back through futures or ``actor_ref.tell``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0


class RuntimeStoppedError(RuntimeError):
    """The runtime was stopped (or never started) when work was handed to it."""


class AsyncRuntime:
    """Owns an event loop running in a daemon thread; start and stop it explicitly or as a context manager."""

    def __init__(self, name: str = "mobkat-io", *, workers: int = 64) -> None:
        self._name = name
        self._workers = workers
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._attached = False

    @classmethod
    def attach(cls, name: str = "mobkat-io") -> AsyncRuntime:
        """A runtime on the event loop running in this thread, for an asyncio app that embeds mobkat.

        mobkat's network I/O then shares the app's loop, so the app can ``await`` a live channel
        (``SessionHandle.live_channel``) with no thread hop per frame. Blocking calls (a
        ``SessionHandle`` method, ``SessionServices.close``) must not run on this loop: wrap them in
        ``asyncio.to_thread``. :meth:`stop` detaches and leaves the app's loop running.
        """
        runtime = cls(name)
        runtime._loop = asyncio.get_running_loop()
        runtime._thread = threading.current_thread()
        runtime._attached = True
        return runtime

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeStoppedError(f"runtime {self._name!r} is not running")
        return self._loop

    @property
    def running(self) -> bool:
        return self._loop is not None and self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def start(self) -> AsyncRuntime:
        with self._lock:
            if self.running:
                return self
            loop = asyncio.new_event_loop()
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self._workers, thread_name_prefix=f"{self._name}-worker")
            loop.set_default_executor(self._executor)
            ready = threading.Event()

            def _run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=_run, name=self._name, daemon=True)
            self._thread.start()
            if not ready.wait(10):
                raise RuntimeStoppedError(f"runtime {self._name!r} did not start")
            self._loop = loop
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; returns a thread-safe future."""
        try:
            loop = self.loop
        except RuntimeStoppedError:
            coro.close()
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = DEFAULT_TIMEOUT) -> T:
        """Run ``coro`` on the loop and wait for its result (never call from the loop thread)."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("AsyncRuntime.run() called from the loop thread; await the coroutine instead")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"operation did not finish within {timeout} s") from None

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a plain callable on the loop thread."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel remaining tasks, stop the loop and join its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = None
            if loop is None or thread is None:
                return
            if self._attached:  # the app's loop: not ours to stop
                self._thread = None
                return

            async def _drain() -> None:
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks, timeout=timeout / 2)
                await loop.shutdown_asyncgens()

            if thread.is_alive():
                try:
                    asyncio.run_coroutine_threadsafe(_drain(), loop).result(timeout)
                except concurrent.futures.TimeoutError:
                    log.warning("%s: tasks still running after %g s of shutdown; stopping the loop anyway",
                                self._name, timeout)
                except RuntimeError:  # the loop stopped on its own meanwhile
                    pass
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
                if thread.is_alive():
                    log.warning("%s: the loop thread did not stop within %g s", self._name, timeout)
            if not loop.is_running():
                loop.close()
            if self._executor is not None:
                closer = threading.Thread(target=self._executor.shutdown, kwargs={"cancel_futures": True},
                                          name=f"{self._name}-closer")
                closer.start()
                closer.join(timeout)  # a tool stuck in a worker thread must not hang shutdown forever
                self._executor = None
            self._thread = None

    def __enter__(self) -> AsyncRuntime:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bridge(future: concurrent.futures.Future[T]) -> Awaitable[T]:
    """Await a thread-side future (e.g. a pykka answer) from the loop without blocking it."""
    return asyncio.wrap_future(future)
