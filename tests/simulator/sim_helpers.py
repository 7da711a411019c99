"""Helpers for driving the simulator with the openai SDK from synchronous tests."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

import pydantic
from openai import AsyncOpenAI
from openai.resources.realtime.realtime import AsyncRealtimeConnection, AsyncRealtimeConnectionManager
from openai.types.realtime import RealtimeServerEvent

from mobkat.simulator import Simulator

T = TypeVar("T")
SERVER_EVENT: pydantic.TypeAdapter[RealtimeServerEvent] = pydantic.TypeAdapter(RealtimeServerEvent)
MODEL = "gpt-realtime-2"


def validate_server_frames(frames: Iterable[str]) -> int:
    """Strictly validate raw server frames with the SDK's own event union; returns how many."""
    count = 0
    for raw in frames:
        SERVER_EVENT.validate_json(raw)
        count += 1
    return count


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    """Run an async scenario from a sync test, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def client(sim: Simulator) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0)


def connect(sim: Simulator) -> AsyncRealtimeConnectionManager:
    return client(sim).realtime.connect(model=MODEL)


async def recv_until(conn: AsyncRealtimeConnection, *types: str, timeout: float = 5.0) -> list[Any]:
    """Receive events up to and including the first one whose type is in ``types``."""
    events: list[Any] = []
    while True:
        event = await asyncio.wait_for(conn.recv(), timeout)
        events.append(event)
        if event.type in types:
            return events


async def user_text(conn: AsyncRealtimeConnection, text: str, *, respond: bool = True) -> None:
    await conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    if respond:
        await conn.response.create()


async def append_audio(conn: AsyncRealtimeConnection, pcm: bytes, chunk: int = 4800) -> None:
    for offset in range(0, len(pcm), chunk):
        await conn.input_audio_buffer.append(audio=base64.b64encode(pcm[offset : offset + chunk]).decode())


def audio_of(events: Iterable[Any]) -> bytes:
    return b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")


def transcript_of(events: Iterable[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")


def types_of(events: Iterable[Any]) -> list[str]:
    return [e.type for e in events]
