"""The member host: one Ray actor per node and mob, holding many members.

Each member is still a pykka actor with its one session (and at most one live channel) on the host's I/O
loop: the same :class:`~mobkat.mob.member.MemberActor` as in one process. What differs is what it talks to.
Its reports go to the mob's head actor (:class:`HeadMailbox`), its events to the head's event log
(:class:`HeadEvents`), and its comms tools ask the supervisor through a :class:`RemoteProxy`. Every call into
the host names the member *and* its fence token: a call for an incarnation the host no longer runs changes
nothing (a ``post`` for it is dropped: the supervisor still holds those messages unacknowledged). Reports and
events go out in bursts (:mod:`mobkat.engine.head_outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import pykka

from mobkat.engine.head_outbox import FlushingProxy, HeadEvents, HeadMailbox, HeadOutbox
from mobkat.engine.live_feed import ObservationBuffer
from mobkat.errors import MobError
from mobkat.live.channel import ReconnectPolicy
from mobkat.mob.definition import MobDefinition
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor, OpenLive
from mobkat.mob.member_tools import member_tools
from mobkat.mob.messages import Envelope
from mobkat.session import Session, SessionServices
from mobkat.store.spec import StoreSpec

log = logging.getLogger(__name__)
STOP_TIMEOUT = 20.0


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
        self.outbox = HeadOutbox(head)
        self.reports = HeadMailbox(self.outbox)
        self.events = HeadEvents(self.outbox)
        self.supervisor = FlushingProxy(self.outbox, head, what=f"mob {settings.mob_id} supervisor")
        self.room = InboxRoom()
        self.members: dict[str, _Hosted] = {}
        self.feeds: dict[str, ObservationBuffer] = {}
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

    # -- live feeds (mobkat.engine.live_feed) ----------------------------------------------------------------
    async def subscribe_live(self, name: str) -> str:
        """Start buffering the observations of the member's open live channel; the subscription's id."""
        hosted = self.members.get(name)
        if hosted is None:
            raise pykka.ActorDeadError(f"member {name} is not on this host any more")
        proxy = hosted.ref.proxy()
        channel_id = await asyncio.to_thread(lambda: proxy.live_channel_id().get(timeout=STOP_TIMEOUT))
        if channel_id is None:
            raise MobError(f"member {name} has no open live channel; open one with member.live.open()",
                           details={"member": name})
        buffer = ObservationBuffer()
        subscription = uuid.uuid4().hex
        self.feeds[subscription] = buffer
        await asyncio.to_thread(lambda: proxy.live_subscribe(channel_id, buffer.add).get(timeout=STOP_TIMEOUT))
        return subscription

    async def live_observations(self, subscription: str, cursor: int,
                                wait_s: float) -> tuple[int, list[Any], bool]:
        """What a driver's feed reads (see ``ObservationBuffer.after``); an ended feed is forgotten once read."""
        buffer = self.feeds.get(subscription)
        if buffer is None:
            return cursor, [], True
        fresh = await asyncio.to_thread(buffer.after, cursor, min(wait_s, 5.0))
        if fresh[2]:
            self.feeds.pop(subscription, None)
            if buffer.dropped:
                log.warning("mob %s: a live feed lost %d observations (its reader fell behind)",
                            self.settings.mob_id, buffer.dropped)
        return fresh

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
        for feed in self.feeds.values():
            feed.end()
        self.outbox.close()
        self.services.close()
        self.services.store.close()
        failures.extend(self.services.stop_failures)
        return failures


def node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


__all__ = ["HeadEvents", "HeadMailbox", "HostSettings", "MemberHost"]
