"""Input audio transcription: when, and whether, a committed input's transcript reaches the client."""

from __future__ import annotations

import asyncio
from typing import Protocol

from openai import BaseModel as SdkModel

from mobkat.simulator.conversation import Part
from mobkat.simulator.events import EventFactory
from mobkat.simulator.script import SimulatorScript

FAILED_CODE = "audio_unintelligible"
FAILED_MESSAGE = "Audio could not be transcribed."


class TranscriptHost(Protocol):
    """What transcription needs from its connection."""

    events: EventFactory

    @property
    def script(self) -> SimulatorScript: ...

    async def send(self, event: SdkModel) -> None: ...


class InputTranscripts:
    """Sends ``conversation.item.input_audio_transcription.completed`` (or ``.failed``) per the script's
    ``transcription``: at once, or ``late_s`` after the next ``response.done``."""

    def __init__(self, host: TranscriptHost) -> None:
        self._host = host
        self._late: list[tuple[str, Part]] = []

    async def committed(self, item_id: str, part: Part) -> None:
        """An input audio item was committed (with transcription configured)."""
        if self._host.script.transcription.late_s is None:
            await self._deliver(item_id, part)
        else:
            self._late.append((item_id, part))

    async def after_response(self) -> None:
        """A ``response.done`` went out: deliver the transcripts held for it, ``late_s`` later."""
        late, self._late = self._late, []
        if not late:
            return
        await asyncio.sleep(self._host.script.transcription.late_s or 0.0)
        for item_id, part in late:
            await self._deliver(item_id, part)

    async def _deliver(self, item_id: str, part: Part) -> None:
        events = self._host.events
        if self._host.script.transcription.fail:
            await self._host.send(events.transcription_failed(item_id, 0, FAILED_CODE, FAILED_MESSAGE))
            return
        part.transcript = part.heard
        await self._host.send(events.transcription_completed(item_id, 0, part.heard or "", part.audio_ms / 1000))


__all__ = ["InputTranscripts"]
