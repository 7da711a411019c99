"""The OpenAI Agents SDK path of the live benchmarks: a ``RealtimeSession`` pointed at the simulator.

Imported only when the ``agents`` path is opened (``openai-agents``, in the ``bench`` extra). Its
session is configured like mobkat's provider socket (server VAD that creates and interrupts
responses, pcm16 24 kHz both ways, voice marin, input transcription); tracing is off, so nothing
leaves the machine.
"""

from __future__ import annotations

import os
import zlib

os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

from agents import set_tracing_disabled
from agents.realtime import (
    RealtimeAgent,
    RealtimeModelConfig,
    RealtimeRunConfig,
    RealtimeRunner,
    RealtimeSession,
    RealtimeSessionModelSettings,
)

from benchmarks.live_client import MODEL, SIM_KEY, TRANSCRIBER, ClientPath

set_tracing_disabled(True)


def model_settings() -> RealtimeSessionModelSettings:
    return {
        "model_name": MODEL,
        "voice": "marin",
        "input_audio_format": "pcm16",
        "output_audio_format": "pcm16",
        "input_audio_transcription": {"model": TRANSCRIBER, "language": "en"},
        "turn_detection": {"type": "server_vad", "create_response": True, "interrupt_response": True},
        "tracing": None,
    }


class AgentsPath(ClientPath):
    name = "agents"

    def __init__(self, sim_base_url: str) -> None:
        super().__init__()
        self.url = sim_base_url.replace("http://", "ws://", 1) + f"/realtime?model={MODEL}"
        self.session: RealtimeSession | None = None

    async def open(self, marker: bytes) -> None:
        config: RealtimeRunConfig = {"model_settings": model_settings(), "tracing_disabled": True}
        model: RealtimeModelConfig = {"url": self.url, "api_key": SIM_KEY, "initial_model_settings": model_settings()}
        session = await RealtimeRunner(RealtimeAgent(name="bench", instructions=""), config=config).run(
            model_config=model)
        self.session = await session.__aenter__()
        self.start_reading(self._read)
        await self.send_frame(marker)

    async def _read(self) -> None:
        assert self.session is not None
        async for event in self.session:
            if event.type == "audio":
                self.heard(zlib.crc32(event.audio.data))
            elif event.type == "agent_end":
                self.ended.set()

    async def send_frame(self, pcm: bytes) -> None:
        assert self.session is not None
        await self.session.send_audio(pcm)

    async def say(self, text: str) -> None:
        assert self.session is not None
        await self.session.send_message(text)

    async def interrupt(self) -> None:
        assert self.session is not None
        await self.session.interrupt()

    async def close(self) -> None:
        await super().close()
        if self.session is not None:
            await self.session.close()
