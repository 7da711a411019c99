"""``RemoteSource``: the console's mob side for a mob in a running ``mobkat rpc`` server (``mobkat console``).

Over :class:`~mobkat.client.MobkatClient` (``tcp=``, ``auth_token=``): the roster from ``mob/members``,
events from a ``mob/stream_open`` stream, typed lines by ``mob/member_send`` (or into the member's live
socket), and for a live member ``mob/member_live_open`` plus its live socket (audio in, observations
out) and ``mob/member_live_control`` (commit, interrupt, truncate). Without the server's ``--live-ws``
the console shows everything but push-to-talk. The server's auth token stays here: it never reaches a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from mobkat.client import (
    ChannelAlreadyBound,
    LiveSocket,
    MethodNotFound,
    MobHandle,
    MobkatClient,
    MobkatClientError,
)
from mobkat.console.source import Observer, RosterEntry
from mobkat.errors import MobError
from mobkat.live.wire import TurningMode
from mobkat.mob.events import MobEvent

log = logging.getLogger(__name__)
NO_LIVE_WS = "the rpc server runs without --live-ws (restart it with --live-ws HOST:PORT for push-to-talk)"
HISTORY_PAGES = 50  # mob/events pages (100 events each) read once to learn which members are live
UNKNOWN_MODEL = "—"


class ConnectError(MobError):
    """``mobkat console --connect`` could not reach or use the server (the message says why)."""


@dataclass
class _Channel:
    channel_id: str
    socket: LiveSocket
    turning_mode: TurningMode
    reader: asyncio.Task[None]


class RemoteSource:
    """One mob of the server at ``tcp`` (``HOST:PORT``); ``mob_id=None`` picks the only running mob."""

    def __init__(self, tcp: str, *, auth_token: str | None = None, mob_id: str | None = None) -> None:
        self.tcp = tcp
        self.mob_id = mob_id or ""
        self.talk_blocked: str | None = None
        self._auth_token = auth_token
        self._wanted = mob_id
        self._client: MobkatClient | None = None
        self._mob: MobHandle | None = None
        self._channels: dict[str, _Channel] = {}
        self._live_profiles: set[str] = set()
        self._models: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._blocked: dict[str, str] = {}

    @property
    def mob(self) -> MobHandle:
        if self._mob is None:
            raise RuntimeError("RemoteSource.open() first")
        return self._mob

    # -- lifecycle ----------------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, initialize (with the auth token), pick the mob, learn which members talk live."""
        client = MobkatClient(auth_token=self._auth_token)
        try:
            await client.connect(tcp=self.tcp)
        except (OSError, ValueError) as exc:
            await client.close()
            raise ConnectError(f"cannot connect to mobkat rpc at tcp://{self.tcp}: {exc}") from None
        except MobkatClientError as exc:
            await client.close()
            raise ConnectError(f"mobkat rpc at tcp://{self.tcp} refused the console: {exc.message}") from None
        self._client = client
        try:
            await self._pick_mob(client)
            await self._learn_history()
        except MobkatClientError as exc:
            await self.close()
            raise ConnectError(f"mobkat rpc at tcp://{self.tcp}: {exc.message}") from None
        except BaseException:
            await self.close()
            raise
        if client.server is not None and "mob/member_live_open" not in client.server.methods:
            self.talk_blocked = NO_LIVE_WS

    async def _pick_mob(self, client: MobkatClient) -> None:
        mobs = await client.list_mobs()
        if self._wanted is None:
            running = [m.mob_id for m in mobs if m.status == "Running"] or [m.mob_id for m in mobs]
            if len(running) != 1:
                listed = ", ".join(m.mob_id for m in mobs) or "none"
                raise ConnectError(f"mobkat rpc at tcp://{self.tcp} has {len(mobs)} mobs ({listed}): "
                                   "name one with --mob MOB_ID")
            self.mob_id = running[0]
        elif self._wanted not in {m.mob_id for m in mobs}:
            listed = ", ".join(m.mob_id for m in mobs) or "none"
            raise ConnectError(f"mobkat rpc at tcp://{self.tcp} has no mob {self._wanted!r} (mobs: {listed})")
        self._mob = client.mob(self.mob_id)

    async def _learn_history(self) -> None:
        """Members' profiles and models, and which ones opened a live channel, from the mob's past events."""
        cursor = 0
        for _ in range(HISTORY_PAGES):
            events = await self.mob.read_events(cursor, 100)
            for event in events:
                self._learn(event)
            if len(events) < 100:
                return
            cursor = events[-1].cursor

    def _learn(self, event: MobEvent) -> None:
        member, role, model = event.get("member"), event.get("role"), event.get("model")
        if isinstance(member, str) and isinstance(role, str):
            self._roles[member] = role
            if isinstance(model, str):
                self._models[role] = model
        if event.type == "live_opened" and isinstance(member, str):
            self._live_profiles.add(self._roles.get(member, member))

    async def close(self) -> None:
        """Stop observing; the live channels the console took are closed (the next console opens new ones)."""
        channels, self._channels = self._channels, {}
        for name, channel in channels.items():
            channel.reader.cancel()
            with contextlib.suppress(Exception):
                await channel.socket.close()
            with contextlib.suppress(Exception):
                await self.mob.member_live_close(name, channel.channel_id)
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- what the cards show ------------------------------------------------------------------------
    def profile_model(self, profile: str) -> str:
        return self._models.get(profile, UNKNOWN_MODEL)

    def profile_live(self, profile: str) -> bool:
        return profile in self._live_profiles

    def role_of(self, name: str) -> str:
        return self._roles.get(name, name)

    def blocked(self, name: str) -> str | None:
        return self.talk_blocked or self._blocked.get(name)

    async def roster(self) -> list[RosterEntry]:
        members = await self.mob.members()
        for member in members:
            self._roles[member.agent_identity] = member.role
        return [RosterEntry(name=m.agent_identity, profile=m.role, generation=m.generation, broken=m.status == "broken",
                            wired_to=list(m.wired_to)) for m in members]

    async def events(self) -> AsyncIterator[MobEvent]:
        stream = await self.mob.events().open()
        return self._learning(stream)

    async def _learning(self, stream: AsyncIterator[MobEvent]) -> AsyncIterator[MobEvent]:
        async for event in stream:
            self._learn(event)
            yield event

    # -- live channels --------------------------------------------------------------------------------
    async def attach_live(self, name: str, observe: Observer) -> str | None:
        if self.talk_blocked is not None or not self.profile_live(self.role_of(name)):
            return None
        channel = self._channels.get(name)
        if channel is None or channel.reader.done():
            try:
                opened = await self.mob.member_live_open(name)
            except ChannelAlreadyBound as exc:
                self._blocked[name] = f"another host holds its live channel ({exc.message})"
                return None
            except MethodNotFound:
                self.talk_blocked = NO_LIVE_WS
                return None
            assert self._client is not None
            socket = await self._client.live_connect(opened).__aenter__()
            reader = asyncio.get_running_loop().create_task(self._read(name, socket, observe))
            channel = _Channel(opened.channel_id, socket, opened.turning_mode, reader)
            self._channels[name] = channel
            self._blocked.pop(name, None)
        status = await self.mob.member_live_status(name, channel.channel_id)
        return status.status.status

    async def _read(self, name: str, socket: LiveSocket, observe: Observer) -> None:
        try:
            async for observation in socket:
                observe(observation)
        except MobkatClientError as exc:
            log.info("console: %s's live socket ended: %s", name, exc)

    def _channel(self, name: str) -> _Channel:
        channel = self._channels.get(name)
        if channel is None or channel.reader.done():
            reason = self.blocked(name) or "it has no open live channel"
            raise MobError(f"cannot talk to member {name}: {reason}")
        return channel

    async def has_live(self, name: str) -> bool:
        channel = self._channels.get(name)
        return channel is not None and not channel.reader.done()

    async def say(self, name: str, text: str) -> None:
        if await self.has_live(name):
            await self._channels[name].socket.send_text(text)
        else:
            await self.mob.member(name).send(text)

    async def send_audio(self, name: str, pcm: bytes) -> None:
        await self._channel(name).socket.send_audio(pcm)

    async def explicit_commit(self, name: str, profile: str) -> bool:
        return self._channel(name).turning_mode == "explicit_commit"

    async def commit(self, name: str) -> None:
        await self.mob.member_live_control(name, self._channel(name).channel_id, "commit_input")

    async def interrupt(self, name: str) -> None:
        await self.mob.member_live_control(name, self._channel(name).channel_id, "interrupt")

    async def truncate(self, name: str, item_id: str, content_index: int, audio_played_ms: int) -> str:
        await self.mob.member_live_control(name, self._channel(name).channel_id, "truncate", item_id=item_id,
                                           content_index=content_index, audio_played_ms=audio_played_ms)
        return ""  # the heard text arrives as the channel's transcript_truncated observation
