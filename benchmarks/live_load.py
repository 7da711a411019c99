"""The density load generator (runs inside the live client process): N connections, real-time audio both ways.

Every connection streams 20 ms pcm16 frames on its own real-time schedule (the connections' ticks
are spread evenly over the 20 ms period) and reads everything that comes back. Every 3 s (cycles
staggered across connections) it types a line, so each connection gets a spoken reply of about
1.2 s every 3 s while it keeps sending. The frames are silence: the reply is asked for in text
because the simulator's pure-Python speech decoder would stall its loop ~11 ms per utterance,
for every connection at once, which is the stand-in's cost, not a provider's or mobkat's.

Both paths use bare ``websockets`` clients (no SDK parsing), so the load generator costs the same
little per frame whichever path it drives:

- ``mobkat``: a session per connection (``session/create`` on gpt-realtime-2, over TCP JSON-RPC),
  ``live/open``, then the channel's live socket: binary frames out, JSON observations in;
- ``direct``: a realtime socket straight to the simulator, configured as mobkat configures its own,
  ``input_audio_buffer.append`` text frames out, server events in.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import zlib
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from benchmarks.live_client import FRAME_BYTES, FRAME_MS, MODEL, SIM_KEY, provider_session
from mobkat.audio import silence
from mobkat.client import MobkatClient

CYCLE_FRAMES = 150  # 3 s
PROMPT = "the quick brown fox jumps over the lazy dog twice"  # the reply lasts 1.18 s
OPEN_CONCURRENCY = 16


class Connection:
    """One streaming connection's socket and what it recorded."""

    def __init__(self, ws: ClientConnection, index: int, audio_tag: str) -> None:
        self.ws = ws
        self.index = index
        self.audio_tag = audio_tag
        self.scheduled: list[float] = []
        self.sent: list[float] = []
        self.audio: list[tuple[float, int]] = []

    async def read(self) -> None:
        mobkat = self.audio_tag == '"assistant_audio_chunk"'
        async for message in self.ws:
            if isinstance(message, str) and self.audio_tag in message:
                at = time.monotonic()
                data = json.loads(message)
                self.audio.append((at, zlib.crc32(base64.b64decode(data["data"] if mobkat else data["delta"]))))


async def _open_mobkat(client: MobkatClient, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        created = await client.create_session("hello", model=MODEL)
        opened = await client.live_open(created.session_id)
        assert opened.transport.url is not None
        return await connect(opened.transport.url, max_size=16 * 1024 * 1024, open_timeout=30)


async def _open_direct(sim: str, gate: asyncio.Semaphore) -> ClientConnection:
    async with gate:
        url = sim.replace("http://", "ws://", 1) + f"/realtime?model={MODEL}"
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {SIM_KEY}"},
                           max_size=16 * 1024 * 1024, open_timeout=30)
        await ws.send(json.dumps({"type": "session.update", "session": provider_session()}))
        while '"session.updated"' not in str(await ws.recv()):
            pass
        return ws


def _frames(path: str) -> tuple[bytes | str, bytes | str | list[str]]:
    """A ready-to-send silent frame, and the prompt (a text chunk for mobkat, item + response for direct)."""
    pcm = silence(FRAME_MS)
    if path == "mobkat":
        return pcm, json.dumps({"kind": "text", "text": PROMPT})
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": PROMPT}]}
    return (json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}),
            [json.dumps({"type": "conversation.item.create", "item": item}), json.dumps({"type": "response.create"})])


def _marker(path: str, size: int) -> bytes | str:
    pcm = b"\0" * size
    if path == "mobkat":
        return pcm
    return json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()})


async def _stream(conn: Connection, frame: bytes | str, prompt: bytes | str | list[str], start: float,
                  count: int, n: int) -> None:
    phase = FRAME_MS / 1000 * conn.index / n
    offset = conn.index * 37  # stagger the prompts
    for i in range(count):
        due = start + phase + i * FRAME_MS / 1000
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        conn.scheduled.append(due)
        conn.sent.append(time.monotonic())
        await conn.ws.send(frame)
        if (i + offset) % CYCLE_FRAMES == 0:
            for message in prompt if isinstance(prompt, list) else [prompt]:
                await conn.ws.send(message)


async def run_load(path: str, n: int, seconds: float, tcp: str = "", sim: str = "", marker_base: int = 0
                   ) -> dict[str, Any]:
    """Open ``n`` connections on ``path``, stream for ``seconds``, close; answer what each recorded.

    Connection ``k`` first sends a marker frame of ``2 * (marker_base + k + 1)`` bytes.
    """
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    client: MobkatClient | None = None
    if path == "mobkat":
        client = await MobkatClient().connect(tcp=tcp)
        sockets = await asyncio.gather(*(_open_mobkat(client, gate) for _ in range(n)))
        audio_tag = '"assistant_audio_chunk"'
    else:
        sockets = await asyncio.gather(*(_open_direct(sim, gate) for _ in range(n)))
        audio_tag = '"response.output_audio.delta"'
    conns = [Connection(ws, index, audio_tag) for index, ws in enumerate(sockets)]
    readers = [asyncio.create_task(conn.read()) for conn in conns]
    for conn in conns:
        await conn.ws.send(_marker(path, 2 * (marker_base + conn.index + 1)))
    frame, prompt = _frames(path)
    count = int(seconds * 1000 / FRAME_MS)
    start = time.monotonic() + 0.2
    try:
        await asyncio.gather(*(_stream(conn, frame, prompt, start, count, n) for conn in conns))
        end = time.monotonic()
        await asyncio.sleep(0.3)  # the last frames' replies in flight
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.gather(*(conn.ws.close() for conn in conns), return_exceptions=True)
        if client is not None:
            await client.close()
    return {"frame_bytes": FRAME_BYTES, "streaming": [start, end], "connections": [
        {"marker_bytes": 2 * (marker_base + conn.index + 1), "scheduled": conn.scheduled, "sent": conn.sent,
         "audio": conn.audio} for conn in conns]}
