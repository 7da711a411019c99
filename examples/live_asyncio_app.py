"""An asyncio app that embeds mobkat: the live channel runs on the app's own event loop.

``AsyncRuntime.attach()`` makes the loop the app is running on mobkat's I/O loop, so the app awaits
the channel directly (no thread hop per audio frame) and its observer is called on that loop. The
blocking parts of the API (``SessionHandle`` calls, ``SessionServices.close``) go through
``asyncio.to_thread``. Runs offline against the built-in simulator.

    python examples/live_asyncio_app.py
"""

from __future__ import annotations

import asyncio
import base64
import tempfile
from pathlib import Path

from mobkat.actor import SessionHandle
from mobkat.audio import decode_speech, encode_speech, silence
from mobkat.config import MobkatConfig
from mobkat.live.wire import AssistantAudioChunk, Observation, TextChunk
from mobkat.runtime import AsyncRuntime
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore

FRAME_MS = 20


async def app(sim: Simulator, state: Path) -> None:
    runtime = AsyncRuntime.attach()  # mobkat's I/O on this loop
    services = SessionServices(store=SqliteSessionStore(state / "sessions.db"), config=MobkatConfig(),
                               simulator_base_url=sim.base_url, runtime=runtime)
    session = await asyncio.to_thread(Session.create, services, model="gpt-realtime-2")
    handle = SessionHandle.start(session)
    print(f"text turn: {(await asyncio.to_thread(handle.run_turn, 'hello')).text}")  # idle sessions can't go live

    heard = bytearray()
    turns: asyncio.Queue[str] = asyncio.Queue()

    def observe(observation: Observation) -> None:  # called on this loop
        if isinstance(observation, AssistantAudioChunk):
            heard.extend(base64.b64decode(observation.data))
        elif observation.observation in ("user_transcript_final", "turn_completed"):
            text = observation.to_wire().get("text")
            print(f"  {observation.observation}" + (f": {text}" if text else ""))
            if observation.observation == "turn_completed":
                turns.put_nowait("done")

    opened = await asyncio.to_thread(handle.live_open, observer=observe)
    channel = await asyncio.to_thread(handle.live_channel, opened.channel_id)
    print(f"live channel {channel.status.status}; streaming 20 ms frames from the app's loop")
    speech = encode_speech("what is the capital of norway") + silence(700)
    step = 48 * FRAME_MS
    for start in range(0, len(speech), step):
        await channel.send_pcm(speech[start:start + step])  # one await per frame, no thread hop
    await asyncio.wait_for(turns.get(), 15)
    print(f"heard: {decode_speech(bytes(heard))!r}")
    heard.clear()
    await channel.send_input(TextChunk(text="and of sweden?"))
    await asyncio.wait_for(turns.get(), 15)
    print(f"heard: {decode_speech(bytes(heard))!r}")

    await asyncio.to_thread(handle.stop)
    await asyncio.to_thread(services.close)
    rows = services.store.history(session.id)
    print(f"history: {len(rows)} rows; last: {rows[-1].text!r}")


def main() -> None:
    with Simulator() as sim, tempfile.TemporaryDirectory(prefix="mobkat-asyncio-") as tmp:
        print(f"simulator: stands in for OpenAI at {sim.base_url} (offline; no API key, nothing leaves this machine)")
        asyncio.run(app(sim, Path(tmp)))


if __name__ == "__main__":
    main()
