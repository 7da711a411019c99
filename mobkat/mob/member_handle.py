"""Handles over one member of a running :class:`~mobkat.mob.mob.Mob`: its history, info and live channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

from mobkat.actor import SessionHandle
from mobkat.errors import MobError
from mobkat.history import HistoryRow
from mobkat.live.wire import ChannelStatus, InputChunk, LiveOpenResult, TextChunk, TurningMode
from mobkat.mob.member import MemberActor

if TYPE_CHECKING:
    from mobkat.mob.mob import Mob


class LiveControls:
    """The live-channel operations of one member (its channel id is found for you)."""

    def __init__(self, member: MemberHandle) -> None:
        self._member = member

    def _ask(self, name: str, *args: Any) -> Any:
        return getattr(self._member.proxy(), name)(*args).get(timeout=self._member.timeout)

    @property
    def channel_id(self) -> str | None:
        channel_id: str | None = self._ask("live_channel_id")
        return channel_id

    def _require(self) -> str:
        channel_id = self.channel_id
        if channel_id is None:
            raise MobError(f"member {self._member.name} has no open live channel; open one with member.live.open()")
        return channel_id

    def open(self, turning_mode: TurningMode | None = None, voice: str | None = None) -> LiveOpenResult:
        """Open the member's channel (the profile's turning mode and voice unless given)."""
        result: LiveOpenResult = self._ask("open_member_live", turning_mode, voice)
        return result

    def subscribe(self, observer: Callable[[Any], None]) -> None:
        """Call ``observer`` with every observation of the channel. On the Ray engine they are streamed from the
        member's host and the observer runs on a thread of this process (mobkat.engine.live_feed)."""
        link = self._member.mob.ray_link
        if link is not None:
            link.subscribe_live(self._member.name, observer, self._member.timeout)
            return
        self._ask("live_subscribe", self._require(), observer)

    def status(self) -> ChannelStatus:
        status: ChannelStatus = self._ask("live_status", self._require())
        return status

    def send_input(self, chunk: InputChunk) -> None:
        self._ask("live_send_input", self._require(), chunk)

    def send_text(self, text: str) -> None:
        self.send_input(TextChunk(text=text))

    def commit_input(self, modality: str | None = None) -> None:
        self._ask("live_commit_input", self._require(), modality)

    def interrupt(self) -> str | None:
        response_id: str | None = self._ask("live_interrupt", self._require())
        return response_id

    def truncate(self, item_id: str, content_index: int, audio_played_ms: int) -> str:
        heard: str = self._ask("live_truncate", self._require(), item_id, content_index, audio_played_ms)
        return heard

    def refresh(self) -> None:
        self._ask("live_refresh", self._require())

    def close(self) -> ChannelStatus:
        self._require()
        status: ChannelStatus = self._ask("close_live")
        return status


class MemberHandle:
    """One member: its history, info and live channel."""

    def __init__(self, mob: Mob, name: str) -> None:
        self.mob = mob
        self.name = name
        self.timeout = mob.ask_timeout
        self.live = LiveControls(self)

    @property
    def ref(self) -> pykka.ActorRef[MemberActor]:
        return self.mob._supervise("member_ref", self.name)  # type: ignore[no-any-return]

    def proxy(self) -> pykka.ActorProxy[MemberActor]:
        """A proxy to the member's current actor (the mob keeps one per member until it restarts)."""
        return self.mob._member_proxy(self.name)

    def history(self, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        """Committed history (also readable after the member is retired)."""
        session_id = self.mob._supervise("session_id", self.name)
        return self.mob.services.store.history(session_id, offset=offset, limit=limit)

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.proxy().info().get(timeout=self.timeout)
        return info

    def crash(self, reason: str = "crash requested") -> None:
        """Make the member fail as if an exception escaped; the supervisor restarts it (chaos drills, tests)."""
        self.proxy().crash(reason).get(timeout=self.timeout)

    def session(self) -> SessionHandle:
        """Direct access to the member's session actor (bypasses the mob's routing)."""
        return SessionHandle(self.ref, timeout=self.timeout)


__all__ = ["LiveControls", "MemberHandle"]
