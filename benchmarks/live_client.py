"""The client side of the live benchmarks, run as its own process: ``python -m benchmarks.live_client``.

It reads one JSON command per line on stdin and answers one JSON line on stdout, so the load it
generates never shares a GIL with the server or the simulator. Every timestamp is
``time.monotonic()`` (Linux ``CLOCK_MONOTONIC``, one clock for every process on the machine), so
the benchmark can subtract it from the simulator's own receive and send times.

Paths (how the "app" reaches the model), each stamped at the app's API boundary:

- ``mobkat``: the mobkat client SDK: ``MobkatClient`` over TCP, ``live_connect`` → ``LiveSocket``
  (``send_audio`` of raw pcm16; ``async for`` typed observations), ``live_interrupt`` over RPC;
- ``inproc``: mobkat's Python API in the app's process, on the app's loop (``AsyncRuntime.attach``):
  ``await channel.send_pcm(frame)``, observations to an observer callback;
- ``direct``: the ``openai`` SDK's realtime connection straight to the simulator, configured
  exactly like mobkat configures its provider socket;
- ``agents``: the OpenAI Agents SDK's ``RealtimeSession`` (see :mod:`benchmarks.live_agents`).

Each path's first frame is a *marker*: silence of a size unique to the path, which the benchmark
looks for in the simulator's stats to find which provider connection belongs to it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from openai import AsyncOpenAI

from mobkat.actor import SessionHandle
from mobkat.audio import MS_PER_BYTE, silence
from mobkat.client import LiveSocket, MobkatClient
from mobkat.config import MobkatConfig
from mobkat.live.adapter import ProviderConfig
from mobkat.live.channel import LiveChannel
from mobkat.live.wire import AssistantAudioChunk, Observation, TextChunk
from mobkat.runtime import AsyncRuntime
from mobkat.session import Session, SessionServices
from mobkat.store import MemorySessionStore

FRAME_MS = 20
FRAME_BYTES = 24_000 * 2 * FRAME_MS // 1000  # 960: 20 ms of pcm16 24 kHz mono
MODEL = "gpt-realtime-2"
TRANSCRIBER = "gpt-4o-mini-transcribe"  # the catalog's companion of gpt-realtime-2, what mobkat configures
SIM_KEY = "sk-sim"


def now() -> float:
    return time.monotonic()


def crc_b64(data: str) -> int:
    """The audio's identity: CRC-32 of the decoded pcm (both sides compute it the same way)."""
    return zlib.crc32(base64.b64decode(data))


def reply_frames(text: str) -> int:
    """How many 20 ms frames the simulator's spoken reply to ``text`` lasts (``You said: <text>``)."""
    return len(f"You said: {text}".encode()) * MS_PER_BYTE // FRAME_MS


def provider_session() -> dict[str, Any]:
    """The ``session.update`` mobkat's channel sends for a fresh gpt-realtime-2 session."""
    config = ProviderConfig(instructions="", tools=[], turning_mode="provider_managed", transcription_model=TRANSCRIBER)
    return config.session_update()


class ClientPath:
    """One app's connection to the model; a reader task stamps every audio chunk that comes back."""

    name = "?"

    def __init__(self) -> None:
        self.audio: list[tuple[float, int]] = []  # (received at, crc of the pcm)
        self.ended = asyncio.Event()  # set when a response ends (done, cancelled)
        self.first_audio = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    def heard(self, crc: int) -> None:
        self.audio.append((now(), crc))
        self.first_audio.set()

    def start_reading(self, read: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._reader = asyncio.create_task(read())

    async def open(self, marker: bytes) -> None:
        raise NotImplementedError

    async def send_frame(self, pcm: bytes) -> None:
        raise NotImplementedError

    async def say(self, text: str) -> None:
        """Type ``text`` and ask for a (spoken) response."""
        raise NotImplementedError

    async def interrupt(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)


class MobkatPath(ClientPath):
    name = "mobkat"

    def __init__(self, client: MobkatClient) -> None:
        super().__init__()
        self.client = client
        self.channel_id = ""
        self.socket: LiveSocket | None = None

    async def open(self, marker: bytes) -> None:
        created = await self.client.create_session("hello", model=MODEL)
        opened = await self.client.live_open(created.session_id)
        self.channel_id = opened.channel_id
        self.socket = await self.client.live_connect(opened).__aenter__()
        self.start_reading(self._read)
        await self.socket.send_audio(marker)

    async def _read(self) -> None:
        assert self.socket is not None
        async for observation in self.socket:
            if isinstance(observation, AssistantAudioChunk):
                self.heard(crc_b64(observation.data))
            elif observation.observation in ("turn_completed", "turn_interrupted"):
                self.ended.set()

    async def send_frame(self, pcm: bytes) -> None:
        assert self.socket is not None
        await self.socket.send_audio(pcm)

    async def say(self, text: str) -> None:
        assert self.socket is not None
        await self.socket.send_text(text)

    async def interrupt(self) -> None:
        await self.client.live_interrupt(self.channel_id)

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        await super().close()


class InProcessPath(ClientPath):
    """mobkat's Python API inside the app's process, as the Agents SDK's session is: the session's
    actor and its live channel run on the app's own event loop (``AsyncRuntime.attach``), so a frame
    is one ``await channel.send_pcm(pcm)`` and observations reach the app's observer on that loop."""

    name = "inproc"

    def __init__(self, sim_base_url: str) -> None:
        super().__init__()
        self.sim_base_url = sim_base_url
        self.services: SessionServices | None = None
        self.handle: SessionHandle | None = None
        self.channel: LiveChannel | None = None

    async def open(self, marker: bytes) -> None:
        self.services = services = SessionServices(store=MemorySessionStore(), config=MobkatConfig(),
                                                   simulator_base_url=self.sim_base_url, runtime=AsyncRuntime.attach())
        # Blocking API calls go through to_thread: the runtime they wait on is this very loop.
        session = await asyncio.to_thread(Session.create, services, model=MODEL)
        self.handle = handle = SessionHandle.start(session)
        await asyncio.to_thread(handle.run_turn, "hello")  # a session that never ran a turn cannot go live
        opened = await asyncio.to_thread(handle.live_open, observer=self._observe)
        self.channel = await asyncio.to_thread(handle.live_channel, opened.channel_id)
        await self.send_frame(marker)

    def _observe(self, observation: Observation) -> None:
        """The channel calls this on the app's loop with each typed observation."""
        if isinstance(observation, AssistantAudioChunk):
            self.heard(crc_b64(observation.data))
        elif observation.observation in ("turn_completed", "turn_interrupted"):
            self.ended.set()

    async def send_frame(self, pcm: bytes) -> None:
        assert self.channel is not None
        await self.channel.send_pcm(pcm)

    async def say(self, text: str) -> None:
        assert self.channel is not None
        await self.channel.send_input(TextChunk(text=text))

    async def interrupt(self) -> None:
        assert self.channel is not None
        await self.channel.interrupt()

    async def close(self) -> None:
        await super().close()
        if self.handle is not None:
            await asyncio.to_thread(self.handle.stop)
        if self.services is not None:
            await asyncio.to_thread(self.services.close)


class DirectPath(ClientPath):
    name = "direct"

    def __init__(self, sim_base_url: str) -> None:
        super().__init__()
        self.openai = AsyncOpenAI(base_url=sim_base_url, api_key=SIM_KEY)
        self.conn: Any = None

    async def open(self, marker: bytes) -> None:
        self.conn = await self.openai.realtime.connect(model=MODEL).enter()
        if (await self.conn.recv()).type != "session.created":
            raise RuntimeError("the simulator did not start with session.created")
        await self.conn.session.update(session=provider_session())
        while (await self.conn.recv()).type != "session.updated":
            pass
        self.start_reading(self._read)
        await self.send_frame(marker)

    async def _read(self) -> None:
        async for event in self.conn:
            if event.type == "response.output_audio.delta":
                self.heard(crc_b64(event.delta))
            elif event.type == "response.done":
                self.ended.set()

    async def send_frame(self, pcm: bytes) -> None:
        await self.conn.input_audio_buffer.append(audio=base64.b64encode(pcm).decode())

    async def say(self, text: str) -> None:
        await self.conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
        await self.conn.response.create()

    async def interrupt(self) -> None:
        await self.conn.response.cancel()

    async def close(self) -> None:
        await super().close()
        if self.conn is not None:
            await self.conn.close()
        await self.openai.close()


async def density(**params: Any) -> dict[str, Any]:
    from benchmarks.live_load import run_load  # the many-connection load generator

    return await run_load(**params)


class Worker:
    """Holds the open paths between commands."""

    def __init__(self) -> None:
        self.client: MobkatClient | None = None
        self.sim_base_url = ""
        self.paths: dict[str, ClientPath] = {}

    async def setup(self, tcp: str, sim: str) -> dict[str, Any]:
        self.client = await MobkatClient().connect(tcp=tcp)
        self.sim_base_url = sim
        return {}

    async def open(self, path: str, marker_bytes: int) -> dict[str, Any]:
        opened: ClientPath
        if path == "mobkat":
            assert self.client is not None
            opened = MobkatPath(self.client)
        elif path == "direct":
            opened = DirectPath(self.sim_base_url)
        elif path == "inproc":
            opened = InProcessPath(self.sim_base_url)
        elif path == "agents":
            from benchmarks.live_agents import AgentsPath  # only when the Agents SDK is wanted (and installed)

            opened = AgentsPath(self.sim_base_url)
        else:
            raise ValueError(f"unknown path {path!r}")
        await opened.open(b"\0" * marker_bytes)
        self.paths[path] = opened
        return {}

    async def stream(self, path: str, text: str, lead_frames: int, tail_frames: int,
                     timeout: float = 15.0) -> dict[str, Any]:
        """Stream 20 ms frames of silence on a real-time schedule; after ``lead_frames`` type ``text``,
        keep streaming through the spoken reply and ``tail_frames`` more; wait for the reply to end."""
        target = self.paths[path]
        frame = silence(FRAME_MS)
        frames = lead_frames + reply_frames(text) + tail_frames
        target.audio.clear()
        target.ended.clear()
        start = now() + 0.01
        sent: list[float] = []
        for index in range(frames):
            await asyncio.sleep(max(0.0, start + index * FRAME_MS / 1000 - now()))
            sent.append(now())
            await target.send_frame(frame)
            if index == lead_frames:
                await target.say(text)
        await asyncio.wait_for(target.ended.wait(), timeout)
        return {"sent": sent, "frame_bytes": FRAME_BYTES, "audio": list(target.audio)}

    async def barge(self, path: str, times: int, text: str, timeout: float = 15.0) -> dict[str, Any]:
        """``times`` x: ask for a spoken reply, and on its first audio chunk interrupt it (stamped)."""
        target = self.paths[path]
        stamps: list[float] = []
        for _ in range(times):
            target.first_audio.clear()
            target.ended.clear()
            await target.say(text)
            await asyncio.wait_for(target.first_audio.wait(), timeout)
            target.ended.clear()
            stamps.append(now())
            await target.interrupt()
            await asyncio.wait_for(target.ended.wait(), timeout)
            if path in ("mobkat", "inproc"):  # turn_interrupted comes first; the cancelled turn commits after it
                target.ended.clear()
                await asyncio.wait_for(target.ended.wait(), timeout)
        return {"interrupted_at": stamps}

    async def close(self) -> dict[str, Any]:
        for path in self.paths.values():
            await path.close()
        self.paths.clear()
        if self.client is not None:
            await self.client.close()
        return {}


async def serve() -> None:
    worker = Worker()
    loop = asyncio.get_running_loop()
    handlers: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
        "setup": worker.setup, "open": worker.open, "stream": worker.stream, "barge": worker.barge,
        "density": density, "close": worker.close}
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        name = command.pop("cmd")
        try:
            answer = {"ok": True, **(await handlers[name](**command))}
        except Exception as exc:  # report it to the benchmark, which raises with this text
            answer = {"ok": False, "error": f"{name}: {type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if name == "close":
            return


if __name__ == "__main__":
    asyncio.run(serve())
