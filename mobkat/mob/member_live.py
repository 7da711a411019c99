"""A member's live channel: opened with its profile's settings, handed to a host, mirrored into mob events."""

from __future__ import annotations

from collections.abc import Callable

from mobkat.actor import SessionActor
from mobkat.errors import ChannelAlreadyBoundError
from mobkat.history import HistoryRow
from mobkat.live.channel import capabilities_of
from mobkat.live.wire import (
    AssistantTextDelta,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    ChannelStatus,
    LiveErrorObservation,
    LiveOpenResult,
    LiveTransport,
    Observation,
    Ready,
    TurnCompleted,
    TurningMode,
    UserTranscriptFinal,
)
from mobkat.mob.definition_schema import LiveSettings
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.links import EventAppender


class MemberLive(SessionActor):
    """The live half of :class:`~mobkat.mob.member.MemberActor` (its session actor's channel, as a member)."""

    identity: MemberIdentity
    events: EventAppender
    live_settings: LiveSettings
    _context: list[HistoryRow]

    def open_live(self) -> str | None:
        """Open this member's live channel with its profile's settings (the supervisor asks after spawn)."""
        try:
            return self.open_member_live().channel_id
        except Exception as exc:
            self.events.append("live_failed", member=self.identity.name, error=str(exc))
            return None

    def open_member_live(self, turning_mode: TurningMode | None = None, voice: str | None = None,
                         observer: Callable[[Observation], None] | None = None) -> LiveOpenResult:
        """Open the live channel (profile settings unless given), mirroring it into the mob's events.

        ``observer`` also hears every observation, from the first one on (e.g. a host's socket feed)."""
        settings = self.live_settings
        watch: Callable[[Observation], None] = self._observe
        if observer is not None:
            def watch(observation: Observation) -> None:
                self._observe(observation)
                observer(observation)

        result = self.live_open(turning_mode or settings.turning_mode, voice or settings.voice, watch)
        self.events.append("live_opened", member=self.identity.name, channel_id=result.channel_id,
                           turning_mode=result.turning_mode, continuity=result.continuity.mode)
        context, self._context = self._context, []
        for row in context:  # pending lifecycle notices join the live conversation as context
            self.live_inject(row, False)
        return result

    def claim_live(self, turning_mode: TurningMode | None = None,
                   observer: Callable[[Observation], None] | None = None) -> LiveOpenResult:
        """Open the live channel for a host, or hand it the one the mob opened itself (``open_on_spawn``).

        A handed-over channel keeps its turning mode (asking for another one is refused); ``observer``
        hears ``ready`` first when the channel is ready, then every later observation."""
        channel = self._open_channel()
        if channel is None:
            return self.open_member_live(turning_mode, None, observer)
        if turning_mode is not None and turning_mode != channel.turning_mode:
            raise ChannelAlreadyBoundError(
                f"member {self.identity.name} already has live channel {channel.channel_id} in turning mode "
                f"{channel.turning_mode!r}: close it before opening one in {turning_mode!r}",
                details={"channel_id": channel.channel_id, "turning_mode": channel.turning_mode})
        if observer is not None:
            if channel.status.status == "ready":
                observer(Ready())
            channel.subscribe(observer)
        return LiveOpenResult(channel_id=channel.channel_id, transport=LiveTransport(transport="in_process"),
                              capabilities=capabilities_of(self.session), continuity=channel.continuity,
                              turning_mode=channel.turning_mode)

    def close_live(self) -> ChannelStatus | None:
        channel = self._open_channel()
        if channel is None:
            return None
        status = self.live_close(channel.channel_id)
        self.events.append("live_closed", member=self.identity.name, channel_id=channel.channel_id)
        return status

    def _observe(self, observation: Observation) -> None:
        """Live observations → mob events (runs on the I/O loop)."""
        name = self.identity.name
        if isinstance(observation, UserTranscriptFinal):
            self.events.append("user_transcript", member=name, text=observation.text)
        elif isinstance(observation, AssistantTranscriptDelta | AssistantTextDelta):
            self.events.append("transcript_delta", member=name, delta=observation.delta)
        elif isinstance(observation, AssistantTranscriptFinal):
            self.events.append("assistant_transcript", member=name, text=observation.text)
        elif isinstance(observation, TurnCompleted):
            self.events.append("turn_committed", member=name, generation=self.identity.generation,
                               messages=observation.committed_messages, stop_reason=observation.stop_reason,
                               source="live")
        elif isinstance(observation, LiveErrorObservation):
            self.events.append("live_closed", member=name, error=observation.message)


__all__ = ["MemberLive"]
