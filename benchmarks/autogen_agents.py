"""The AutoGen core side of ``bench_autogen`` (imported only when ``autogen-core`` is installed)."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass
from typing import Literal

from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    TopicId,
    TypeSubscription,
    message_handler,
)

Api = Literal["send_message", "publish_message"]
TOPIC = "bench"


@dataclass
class Ping:
    body: str


@dataclass
class Burst:
    bodies: list[str]
    api: Api


class Sink(RoutedAgent):
    """Counts messages; sets ``done`` at the expected count."""

    def __init__(self, done: asyncio.Event, expected: int) -> None:
        super().__init__("counts messages")
        self.count = 0
        self.done = done
        self.expected = expected

    @message_handler
    async def on_ping(self, message: Ping, ctx: MessageContext) -> None:
        self.count += 1
        if self.count == self.expected:
            self.done.set()


class Sender(RoutedAgent):
    """On a burst, sends every body to the sink (``send_message``) or to its topic (``publish_message``)."""

    def __init__(self) -> None:
        super().__init__("sends a burst")

    @message_handler
    async def on_burst(self, message: Burst, ctx: MessageContext) -> None:
        sink, topic = AgentId("sink", "default"), TopicId(TOPIC, "default")
        for body in message.bodies:
            if message.api == "send_message":
                await self.send_message(Ping(body), sink)
            else:
                await self.publish_message(Ping(body), topic)


async def _run(messages: int, api: Api) -> float:
    done = asyncio.Event()
    runtime = SingleThreadedAgentRuntime()
    await Sink.register(runtime, "sink", lambda: Sink(done, messages))
    await Sender.register(runtime, "sender", Sender)
    await runtime.add_subscription(TypeSubscription(TOPIC, "sink"))
    runtime.start()
    await runtime.get(AgentId("sink", "default"))  # both agents exist before the clock starts
    await runtime.get(AgentId("sender", "default"))
    burst = Burst([f"message {i}" for i in range(messages)], api)
    gc.collect()
    start = time.perf_counter()
    await runtime.send_message(burst, AgentId("sender", "default"))
    await asyncio.wait_for(done.wait(), 120)
    elapsed = time.perf_counter() - start
    await runtime.stop_when_idle()
    return elapsed


def seconds(messages: int, api: Api) -> float:
    """One run on a fresh runtime: seconds from the burst until the sink handled the last message."""
    return asyncio.run(_run(messages, api))
