"""The mob's head on a Ray cluster: one named, detached actor running the mob itself.

It holds the supervisor (roster, wiring, routing, restarts) and the mob's event log, over a
:class:`~mobkat.engine.ray_engine.RayEngine` that places the members on member hosts. It is a whole
:class:`~mobkat.mob.mob.Mob` with that engine, so lifecycle, persistence (``mobs.db`` under the state root)
and flows are the ones of one process. Ray restarts it if its process dies (``max_restarts=-1``): the new
incarnation finds the stored record and restores the mob as ``mobkat rpc`` does after a restart (members back
on their sessions at generation + 1, the event log continued). The driver's ``Mob(engine="ray")`` talks to
it with :meth:`supervise`, :meth:`mob_call` and :meth:`events_after`; member hosts with :meth:`take` and :meth:`call`.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from mobkat.engine.member_host import HostSettings
from mobkat.engine.ray_engine import RayEngine
from mobkat.errors import InvalidInputError
from mobkat.mob.messages import Envelope

log = logging.getLogger(__name__)
ASK_TIMEOUT = 150.0
"""A cap, not a delay: a spawn may wait for a member host's worker process to start on its node (up to 120 s)."""
MOB_CALLS = frozenset({"lifecycle"})
"""The ``Mob`` methods a driver may call on its head by name (anything else is refused)."""
FLOW_CALLS = frozenset({"flows", "run_flow", "status", "cancel", "wait", "active", "stop"})
"""The flow engine's methods a driver may call (``Mob.run_flow`` and friends)."""


@dataclass(frozen=True)
class HeadSettings:
    host: HostSettings
    state_root: str | None
    inbox_capacity: int
    fresh: bool


class MobHead:
    """A Ray actor (``mobkat-head:<mob>``) running one mob."""

    def __init__(self, settings: HeadSettings) -> None:
        import ray

        from mobkat.mob.mob import Mob
        from mobkat.session import SessionServices

        host = settings.host
        context = ray.get_runtime_context()
        with warnings.catch_warnings():  # Ray 2.60 warns about its own use of a deprecated call in there
            warnings.simplefilter("ignore")
            restarted = bool(context.was_current_actor_reconstructed)
        self.services = SessionServices(store=host.store.open(), simulator_base_url=host.simulator_base_url)
        self.engine = RayEngine(host, context.current_actor)
        self.mob = Mob(host.definition, services=self.services, state_root=settings.state_root, ask_timeout=ASK_TIMEOUT,
                       inbox_capacity=settings.inbox_capacity, tool_timeout_s=host.tool_timeout_s,
                       delivery_attempts=host.delivery_attempts, reconnect=host.reconnect,
                       fresh=settings.fresh and not restarted, member_engine=self.engine)
        self.mob.start()
        self.engine.prestart_hosts()
        if restarted:
            log.warning("mob %s: the head actor was restarted by Ray; the mob was restored", host.mob_id)

    # -- the driver's calls ---------------------------------------------------------------------------------
    async def supervise(self, method: str, args: tuple[Any, ...]) -> Any:
        """A supervisor method (``spawn``, ``route``, ``roster``, …), as ``Mob._supervise`` asks it."""
        return await asyncio.to_thread(self.mob._supervise, method, *args, timeout=ASK_TIMEOUT)

    async def mob_call(self, method: str, args: tuple[Any, ...]) -> Any:
        if method not in MOB_CALLS:
            raise InvalidInputError(f"{method!r} is not a mob call the head serves ({', '.join(sorted(MOB_CALLS))})")
        return await asyncio.to_thread(getattr(self.mob, method), *args)

    async def flow_call(self, method: str, args: tuple[Any, ...]) -> Any:
        """A call of the mob's flow engine (``run_flow``, ``status``, ``wait``, …) for the driver's flow API."""
        if method not in FLOW_CALLS:
            raise InvalidInputError(f"{method!r} is not a flow call ({', '.join(sorted(FLOW_CALLS))})")
        return await asyncio.to_thread(getattr(self.mob.flow_engine, method), *args)

    def route_nowait(self, envelope: Envelope) -> None:
        self.mob._route_nowait(envelope)

    async def events_after(self, cursor: int, wait_s: float) -> list[tuple[int, float, str, dict[str, Any]]]:
        """The stored form of the events after ``cursor``, waiting up to ``wait_s`` for the first one."""
        log_ = self.mob.events_log
        if log_.latest <= cursor:
            await asyncio.to_thread(_first_after, log_, cursor, wait_s)
        return log_.raw_after(cursor)

    def member_host(self, name: str) -> tuple[Any, str]:
        """The member host running member ``name`` now, and the node it is on."""
        port = self.mob._supervise("member_port", name, timeout=ASK_TIMEOUT)
        return port.host, port.node_id

    def placement(self) -> dict[str, str]:
        """Member name → node id of its current incarnation."""
        return self.engine.hosts()

    async def hosts_ready(self, timeout: float) -> list[str]:
        """Once the member hosts started with the mob answer (at most ``timeout`` s): their nodes."""
        return await asyncio.to_thread(self.engine.wait_hosts, timeout)

    def host_nodes(self) -> list[str]:
        """The nodes the mob has a member host on (started with it: ``RayEngine.prestart_hosts``)."""
        return self.engine.host_nodes()

    def latest(self) -> int:
        return self.mob.events_log.latest

    async def shutdown(self) -> None:
        await asyncio.to_thread(self.mob.stop)

    # -- the member hosts' calls ----------------------------------------------------------------------------
    def take(self, batch: list[tuple[str, Any, Any]]) -> None:
        """A burst from a member host (mobkat.engine.head_outbox), in its order: reports go to the supervisor's
        mailbox, events into the mob's log."""
        supervisor = self.mob._supervisor
        for kind, first, second in batch:
            if kind == "report":
                if supervisor is not None:
                    supervisor.tell(first)
                else:  # the mob is stopping: its members' last reports (a stop, a close) restart nothing
                    log.debug("mob %s: a report after the stop began: %s", self.mob.id, first)
            elif kind == "event":
                self.mob.events_log.append(first, **second)
            else:
                log.warning("mob %s: a member host sent an unknown item %r", self.mob.id, kind)

    async def call(self, method: str, args: tuple[Any, ...]) -> Any:
        """What a member's comms and mob tools ask the supervisor (``route``, ``peers_of``, …)."""
        return await self.supervise(method, args)


def _first_after(log_: Any, cursor: int, wait_s: float) -> None:
    for _ in log_.follow(cursor, timeout=wait_s):
        return


__all__ = ["HeadSettings", "MobHead"]
