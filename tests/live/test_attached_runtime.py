"""An asyncio app embedding mobkat: ``AsyncRuntime.attach()`` runs mobkat's I/O on the app's own loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mobkat.actor import SessionHandle
from mobkat.config import MobkatConfig
from mobkat.live.wire import Observation, TextChunk
from mobkat.runtime import AsyncRuntime
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore


def test_a_live_channel_on_the_apps_own_loop(simulator: Simulator, tmp_path: Path) -> None:
    async def app() -> None:
        loop = asyncio.get_running_loop()
        runtime = AsyncRuntime.attach()
        assert runtime.loop is loop and runtime.running and runtime.in_loop_thread()
        with pytest.raises(RuntimeError, match="from the loop thread"):
            runtime.run(asyncio.sleep(0))  # blocking waits on this loop would deadlock: refused, not hung
        store = SqliteSessionStore(tmp_path / "sessions.db")
        services = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url,
                                   runtime=runtime)
        session = await asyncio.to_thread(Session.create, services, model="gpt-realtime-2")
        handle = SessionHandle.start(session)
        await asyncio.to_thread(handle.run_turn, "hello")
        seen: list[Observation] = []
        completed = asyncio.Event()
        threads: set[bool] = set()

        def observe(observation: Observation) -> None:
            threads.add(runtime.in_loop_thread())
            seen.append(observation)
            if observation.observation == "turn_completed":
                completed.set()  # safe: observers are called on the app's loop

        opened = await asyncio.to_thread(handle.live_open, observer=observe)
        channel = await asyncio.to_thread(handle.live_channel, opened.channel_id)
        await channel.send_input(TextChunk(text="still on my loop?"))
        await asyncio.wait_for(completed.wait(), 15)
        assert threads == {True}
        assert any(o.observation == "user_transcript_final" for o in seen)
        await asyncio.to_thread(handle.stop)
        await asyncio.to_thread(services.close)
        runtime.stop()  # detaches only: the app's loop keeps running
        assert loop.is_running() and not runtime.running
        history = store.history(session.id)
        assert [row.text for row in history if row.role == "user"][-1] == "still on my loop?"
        assert history[-1].text == "You said: still on my loop?"
        store.close()

    asyncio.run(app())
