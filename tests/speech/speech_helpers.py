"""Driving the simulator with the openai SDK's realtime client from synchronous tests."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection, AsyncRealtimeConnectionManager

from mobkat.simulator import Simulator

T = TypeVar("T")
COMMIT_MODE = {"type": "realtime",
               "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}, "turn_detection": None}}}


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run an async scenario, failing instead of hanging (real speech takes CPU seconds on a busy machine)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(sim: Simulator) -> AsyncRealtimeConnectionManager:
    return AsyncOpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0).realtime.connect(model="gpt-realtime-2")


async def recv_until(conn: AsyncRealtimeConnection, *types: str, timeout: float = 45.0) -> list[Any]:
    """Receive events up to and including the first one whose type is in ``types``."""
    events: list[Any] = []
    while True:
        event = await asyncio.wait_for(conn.recv(), timeout)
        events.append(event)
        if event.type in types:
            return events


async def append_audio(conn: AsyncRealtimeConnection, pcm: bytes, chunk: int = 9600) -> None:
    for offset in range(0, len(pcm), chunk):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[offset : offset + chunk]).decode())


async def say_and_commit(conn: AsyncRealtimeConnection, pcm: bytes) -> str:
    """Commit ``pcm`` as one input (commit mode, transcription on) and return its transcript."""
    await append_audio(conn, pcm)
    await conn.input_audio_buffer.commit()
    events = await recv_until(conn, "conversation.item.input_audio_transcription.completed")
    return str(events[-1].transcript)


def audio_of(events: Iterable[Any]) -> bytes:
    return b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")


def transcript_of(events: Iterable[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
