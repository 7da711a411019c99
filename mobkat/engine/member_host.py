"""The member host: one Ray actor per node and mob, holding many members.

Each member is still a pykka actor with its one session (and at most one live channel) on the host's I/O
loop: the same :class:`~mobkat.mob.member.MemberActor` as in one process. What differs is what it talks to.
Its reports go to the mob's head actor (:class:`HeadMailbox`), its events to the head's event log
(:class:`HeadEvents`), and its comms tools ask the supervisor through a :class:`RemoteProxy`. Every call into
the host names the member *and* its fence token: a call for an incarnation the host no longer runs changes
nothing (a ``post`` for it is dropped: the supervisor still holds those messages unacknowledged).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pykka

from mobkat.engine.remote import RemoteProxy
from mobkat.engine.store_spec import StoreSpec
from mobkat.live.channel import ReconnectPolicy
from mobkat.mob.definition import MobDefinition
from mobkat.mob.events import EventType
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor, OpenLive
from mobkat.mob.member_tools import member_tools
from mobkat.mob.messages import Envelope
from mobkat.session import Session, SessionServices

log = logging.getLogger(__name__)
STOP_TIMEOUT = 20.0


class HeadMailbox:
    """A member's reports, told to the head actor (fire and forget; in order from this host)."""

    def __init__(self, head: Any) -> None:
        self._head = head

    def tell(self, message: Any) -> None:
        self._head.report.remote(message)


class HeadEvents:
    """A member's events, appended to the mob's log in the head actor (in order from this host)."""

    def __init__(self, head: Any) -> None:
        self._head = head

    def append(self, type: EventType, **fields: Any) -> int:
        self._head.append_event.remote(type, fields)
        return 0  # the cursor is the head's to give; nothing here reads it


@dataclass(frozen=True)
class HostSettings:
    """What every member of the host is started with (the mob's own options)."""

    mob_id: str
    definition: MobDefinition
    store: StoreSpec
    simulator_base_url: str | None
    tool_timeout_s: float
    delivery_attempts: int
    reconnect: ReconnectPolicy | None = None


@dataclass
class _Hosted:
    ref: pykka.ActorRef[MemberActor]
    mailbox: Mailbox
    fence: str


class MemberHost:
    """The members of one mob on one node (a Ray actor: ``mobkat-host:<mob>:<node>``)."""

    def __init__(self, settings: HostSettings, head: Any) -> None:
        self.settings = settings
        self.services = SessionServices(store=settings.store.open(),
                                        simulator_base_url=settings.simulator_base_url).start()
        self.head = head
        self.reports = HeadMailbox(head)
        self.events = HeadEvents(head)
        self.supervisor = RemoteProxy(head, "call", what=f"mob {settings.mob_id} supervisor")
        self.room = InboxRoom()
        self.members: dict[str, _Hosted] = {}
        self._gone = asyncio.Event()

    # -- members ----------------------------------------------------------------------------------------
    async def start_member(self, session_id: str, identity: MemberIdentity, profile: str) -> str:
        """Start an incarnation on its stored session (history read on the member's own thread)."""
        return await asyncio.to_thread(self._start, session_id, identity, profile)

    def _start(self, session_id: str, identity: MemberIdentity, profile: str) -> str:
        name = identity.name
        old = self.members.pop(name, None)
        if old is not None:  # an older incarnation still here (a restart placed on the same node)
            self._stop(old)
        settings = self.settings

        def own() -> pykka.ActorProxy[MemberActor]:
            return self.members[name].ref.proxy()

        tools = member_tools(settings.definition, profile, name, self.supervisor, self.room,
                             settings.tool_timeout_s, own=own)
        session = Session.load(self.services, session_id, tools=tools, defer_history=True)
        mailbox = Mailbox()
        ref = MemberActor.start(session, identity, self.reports, self.events,
                                settings.definition.live_settings(profile), mailbox, reconnect=settings.reconnect,
                                tool_timeout_s=settings.tool_timeout_s,
                                delivery_attempts=settings.delivery_attempts)
        self.members[name] = _Hosted(ref, mailbox, identity.fence_token)
        return node_id()

    def _current(self, name: str, fence: str) -> _Hosted | None:
        hosted = self.members.get(name)
        return hosted if hosted is not None and hosted.fence == fence else None

    def post(self, name: str, fence: str, envelopes: list[Envelope]) -> None:
        hosted = self._current(name, fence)
        if hosted is None:
            return  # another incarnation by now: the supervisor redelivers what is unacknowledged
        try:
            for envelope in envelopes:
                hosted.mailbox.post(envelope, hosted.ref)
        except pykka.ActorDeadError:
            pass  # it crashed: its report is on the way, and the supervisor redelivers

    def open_live(self, name: str, fence: str) -> None:
        hosted = self._current(name, fence)
        if hosted is not None and hosted.ref.is_alive():
            hosted.ref.tell(OpenLive())

    async def close_live(self, name: str, fence: str) -> None:
        hosted = self._current(name, fence)
        if hosted is not None and hosted.ref.is_alive():
            await asyncio.to_thread(lambda: hosted.ref.proxy().close_live().get(timeout=STOP_TIMEOUT))

    async def stop_member(self, name: str, fence: str) -> None:
        hosted = self._current(name, fence)
        if hosted is not None:
            del self.members[name]
            await asyncio.to_thread(self._stop, hosted)

    def _stop(self, hosted: _Hosted) -> None:
        if hosted.ref.is_alive():
            hosted.ref.stop(timeout=STOP_TIMEOUT)

    def alive(self, name: str, fence: str) -> bool:
        hosted = self._current(name, fence)
        return hosted is not None and hosted.ref.is_alive()

    async def call(self, name: str, method: str, args: tuple[Any, ...]) -> Any:
        """A member method by name (``info``, ``crash``, ``live_status``, ...), as the driver's handle asks it."""
        hosted = self.members.get(name)
        if hosted is None:
            raise pykka.ActorDeadError(f"member {name} is not on this host any more")
        proxy = hosted.ref.proxy()
        return await asyncio.to_thread(lambda: getattr(proxy, method)(*args).get(timeout=STOP_TIMEOUT))

    # -- the host itself ----------------------------------------------------------------------------------
    def ping(self) -> str:
        return node_id()

    async def until_gone(self) -> None:
        """Never returns while the host lives: the engine watches this call to learn that a node was lost."""
        await self._gone.wait()

    async def shutdown(self) -> list[str]:
        """Stop every member, then the host's I/O loop and store; returns what failed to stop."""
        return await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> list[str]:
        failures: list[str] = []
        for name, hosted in list(self.members.items()):
            try:
                self._stop(hosted)
            except Exception as exc:
                failures.append(f"member {name}: {type(exc).__name__}: {exc}")
                log.warning("mob %s: member %s failed to stop: %s", self.settings.mob_id, name, exc)
        self.members.clear()
        self.services.close()
        self.services.store.close()
        failures.extend(self.services.stop_failures)
        return failures


def node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


__all__ = ["HeadEvents", "HeadMailbox", "HostSettings", "MemberHost"]
