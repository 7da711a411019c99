"""A hosted mob member's seat: the session actor the server serves for it, read from one incarnation; and the
small helpers around spawning one (at most once, resource exhaustion as a typed error)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mobkat.actor import SessionHandle
from mobkat.errors import (
    MobError,
    ResourceExhaustedError,
    UnsupportedMethodError,
)
from mobkat.mob.mob import Mob
from mobkat.rpc.mob_params import SpawnSpec

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RayPlacement:
    """``mobkat rpc --ray ADDRESS``: where the mobs clients create run (their histories: ``store_dsn``, else
    SQLite under ``state_root``; docs/distributed.md)."""

    address: str
    store_dsn: str | None = field(default=None, repr=False)
    state_root: Path | None = None


def remote_session(mob_id: str, name: str) -> UnsupportedMethodError:
    """Why a member of a mob on the Ray engine has no served session."""
    return UnsupportedMethodError(
        f"member {name} of mob {mob_id} runs on a Ray node: its session is driven through mob/* methods (mob/send, "
        "mob/events, mob/member_status, …), not served to session/* or live/* in this version (docs/distributed.md)",
        details={"mob_id": mob_id, "agent_identity": name, "reason": "ray_engine"})


Seat = tuple[SessionHandle, str, str, int]
"""A member's session actor, session id, role and generation, all read from ONE incarnation."""


def read_seat(mob: Mob, name: str) -> Seat:
    """The member's current seat (blocking: asks the supervisor once for the actor, then that actor).

    Everything comes from the same actor: a respawn or restart in between must not pair one incarnation's
    session id with another's actor. A dead actor raises ``pykka.ActorDeadError`` (it is being restarted)."""
    member = mob.member(name)
    ref = member.ref
    info = ref.proxy().info().get(timeout=member.timeout)
    return (SessionHandle(ref, timeout=member.timeout), str(info["session_id"]), str(info["role"]),
            int(info["generation"]))


def spawn_seated(mob: Mob, spec: SpawnSpec) -> tuple[str, Seat]:
    """Spawn and find the new member's seat in ONE worker thread (blocking), so no thread has to start
    between "spawned" and "served". If the seat cannot be found the spawn is undone, so a failure is never
    reported for a member that stays in the roster."""
    name = mob.spawn(spec.profile, spec.agent_identity, spec.initial_text(), runtime_mode=spec.runtime_mode,
                     labels=spec.labels)
    try:
        return name, read_seat(mob, name)
    except Exception as exc:
        try:
            mob.retire(name)
        except Exception as undo:
            raise MobError(f"member {name} was spawned but cannot be served ({exc}), and retiring it failed "
                           f"({undo}): it stays in the roster; retire it with mob/retire",
                           details={"mob_id": mob.id, "agent_identity": name}) from exc
        raise


async def run_at_most_once(fn: Callable[..., T], *args: Any) -> T:
    """``asyncio.to_thread(fn, *args)``, but a call that raised on the caller's side never runs later.

    The executor queues the call before it starts a worker thread; when starting that thread fails (out of
    threads) the caller gets the error while the queued call would still run once a worker frees up, doing
    what was reported as not done. Here whoever comes first wins: the worker (then its outcome is the
    answer) or the caller giving up (then the call never runs)."""
    lock = threading.Lock()
    state = "pending"
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()

    def work() -> None:
        nonlocal state
        with lock:
            if state != "pending":
                return
            state = "running"
        try:
            outcome.set_result(fn(*args))
        except BaseException as exc:
            outcome.set_exception(exc)

    try:
        await asyncio.to_thread(work)
    except Exception:
        with lock:
            if state == "pending":
                state = "abandoned"
                raise
    return await asyncio.wrap_future(outcome)  # the call ran, or runs now on a worker that freed up


def resource_exhausted(exc: BaseException, doing: str) -> ResourceExhaustedError | None:
    """``exc`` as a typed error if it says the process ran out of threads, memory or file descriptors."""
    if isinstance(exc, MemoryError):
        problem = "out of memory"
    elif isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        problem = "out of threads (can't start new thread)"
    elif isinstance(exc, OSError) and exc.errno in (errno.EAGAIN, errno.ENOMEM, errno.EMFILE, errno.ENFILE):
        problem = f"out of an OS resource ({exc.strerror or exc})"
    else:
        return None
    return ResourceExhaustedError(f"{doing}: the server ran {problem}, so it was not done. Retry later, or "
                                  "raise the process limits (ulimit -u / -n, memory)",
                                  details={"error": f"{type(exc).__name__}: {exc}"})
