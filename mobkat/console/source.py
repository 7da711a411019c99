"""The console's mob side: :class:`MobSource`, and :class:`LocalSource` for an in-process :class:`Mob`.

A source gives the console a roster, the mob's events, typed lines, and per live member: audio input,
commit, interrupt, truncate and observations. :class:`~mobkat.console.remote.RemoteSource` is the
same for a mob in a running ``mobkat rpc`` server. Every method runs on the console's event loop.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from mobkat.errors import MobkatError
from mobkat.live.wire import AudioChunk, Observation
from mobkat.mob.events import MobEvent
from mobkat.mob.member_handle import LiveControls
from mobkat.mob.mob import Mob

log = logging.getLogger(__name__)
T = TypeVar("T")
Observer = Callable[[Observation], None]


@dataclass(frozen=True)
class RosterEntry:
    """One member as the console first sees it."""

    name: str
    profile: str
    generation: int = 0
    broken: bool = False
    wired_to: list[str] = field(default_factory=list)


class MobSource(Protocol):
    """What the console needs from a mob (in process or behind an RPC server)."""

    mob_id: str
    talk_blocked: str | None  # why no member can be talked to through this source (None: they can)

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def profile_model(self, profile: str) -> str: ...
    def profile_live(self, profile: str) -> bool: ...
    def role_of(self, name: str) -> str: ...
    def blocked(self, name: str) -> str | None:
        """Why push-to-talk to ``name`` cannot work (None: it can, once its channel is open)."""
        ...
    async def roster(self) -> list[RosterEntry]: ...
    async def events(self) -> AsyncIterator[MobEvent]:
        """The mob's events from now on (the stream is open when this returns)."""
        ...
    async def attach_live(self, name: str, observe: Observer) -> str | None:
        """Observe ``name``'s live channel if it has one not yet observed; its state, or None without one."""
        ...
    async def has_live(self, name: str) -> bool: ...
    async def say(self, name: str, text: str) -> None: ...
    async def send_audio(self, name: str, pcm: bytes) -> None: ...
    async def explicit_commit(self, name: str, profile: str) -> bool: ...
    async def commit(self, name: str) -> None: ...
    async def interrupt(self, name: str) -> None: ...
    async def truncate(self, name: str, item_id: str, content_index: int, audio_played_ms: int) -> str:
        """Keep what was heard; returns the heard text when the source knows it (else "")."""
        ...


class LocalSource:
    """A started in-process :class:`Mob` (its calls block on actors: they run off the console's loop)."""

    talk_blocked: str | None = None

    def __init__(self, mob: Mob) -> None:
        self.mob = mob
        self.mob_id = mob.id
        self._subscribed: set[str] = set()

    async def _blocking(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def profile_model(self, profile: str) -> str:
        return self.mob.definition.profile(profile).model

    def profile_live(self, profile: str) -> bool:
        definition = self.mob.definition
        return definition.live_settings(profile).open_on_spawn and \
            definition.model_profile(profile).capabilities.realtime

    def role_of(self, name: str) -> str:
        spec = next((s for s in self.mob.definition.members_to_spawn() if s.name == name), None)
        return spec.profile if spec is not None else name

    def blocked(self, name: str) -> str | None:
        return None

    async def roster(self) -> list[RosterEntry]:
        rows = await self._blocking(self.mob.members)
        return [RosterEntry(name=str(info["name"]), profile=str(info["role"]),
                            generation=int(info.get("generation", 0)), broken=info.get("status") == "broken",
                            wired_to=[str(p) for p in info.get("wired_to", [])])
                for info in rows]

    async def events(self) -> AsyncIterator[MobEvent]:
        return self.mob.aevents(self.mob.events_log.latest)

    def _live(self, name: str) -> LiveControls:
        return self.mob.member(name).live

    def _attach(self, name: str, observe: Observer) -> str | None:
        try:
            live = self._live(name)
            channel_id = live.channel_id
            if channel_id is None:
                return None
            if channel_id not in self._subscribed:
                self._subscribed.add(channel_id)
                live.subscribe(observe)
            return live.status().status
        except MobkatError as exc:
            log.info("console: cannot observe %s's live channel: %s", name, exc)
            return None

    async def attach_live(self, name: str, observe: Observer) -> str | None:
        return await self._blocking(self._attach, name, observe)

    async def has_live(self, name: str) -> bool:
        return await self._blocking(lambda: self._live(name).channel_id is not None)

    def _say(self, name: str, text: str) -> None:
        handle = self.mob.member(name)
        if handle.live.channel_id is not None:
            handle.live.send_text(text)
        else:
            self.mob.send(name, text)

    async def say(self, name: str, text: str) -> None:
        await self._blocking(self._say, name, text)

    async def send_audio(self, name: str, pcm: bytes) -> None:
        chunk = AudioChunk(data=base64.b64encode(pcm).decode("ascii"))
        await self._blocking(lambda: self._live(name).send_input(chunk))

    async def explicit_commit(self, name: str, profile: str) -> bool:
        return self.mob.definition.live_settings(profile).turning_mode == "explicit_commit"

    async def commit(self, name: str) -> None:
        await self._blocking(lambda: self._live(name).commit_input("audio"))

    async def interrupt(self, name: str) -> None:
        await self._blocking(lambda: self._live(name).interrupt())

    async def truncate(self, name: str, item_id: str, content_index: int, audio_played_ms: int) -> str:
        return await self._blocking(lambda: self._live(name).truncate(item_id, content_index, audio_played_ms))
