"""``ClientPool``'s clients (the SDK over aiohttp): one kept-alive connection per session, the SDK's errors, closing."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from aiohttp import web

from mobkat.config import MobkatConfig
from mobkat.providers.endpoints import AioHttpClient, ClientPool, Endpoint
from mobkat.runtime import AsyncRuntime
from mobkat.session import Session, SessionServices
from mobkat.store import MemorySessionStore


def sse(*chunks: dict[str, Any]) -> bytes:
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks).encode() + b"data: [DONE]\n\n"


REPLY = sse({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]},
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


@dataclass
class Provider:
    """A Chat Completions endpoint on its own loop that records each request's client socket."""

    runtime: AsyncRuntime
    base_url: str = ""
    runner: web.AppRunner | None = None
    peers: list[tuple[str, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        if request.path.startswith("/hangup") and request.transport is not None:
            request.transport.close()
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else ("", 0))
        if request.path.startswith("/slow"):
            await asyncio.sleep(30)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(REPLY)
        await response.write_eof()
        return response

    async def start(self) -> None:
        app = web.Application()
        for prefix in ("", "/hangup", "/slow"):
            app.router.add_post(f"{prefix}/v1/chat/completions", self.handle)
        self.runner = web.AppRunner(app, handler_cancellation=True)  # a client's hang-up ends /slow
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def open_connections(self) -> int:
        assert self.runner is not None and self.runner.server is not None
        return len(self.runner.server.connections)


@pytest.fixture
def provider() -> Iterator[Provider]:
    with AsyncRuntime("test-provider") as runtime:
        server = Provider(runtime)
        runtime.run(server.start())
        yield server
        assert server.runner is not None
        runtime.run(server.runner.cleanup())


def test_a_sessions_turns_reuse_one_connection_and_close_closes_it(provider: Provider) -> None:
    services = SessionServices(store=MemorySessionStore(), config=MobkatConfig(),
                               simulator_base_url=provider.base_url + "/v1").start()
    try:
        session = Session.create(services, model="gpt-5.5")
        assert [session.run_turn(f"turn {i}").text for i in range(3)] == ["ok", "ok", "ok"]
        client = services.runtime.run(_client_for(services))
        assert isinstance(client._client, AioHttpClient)  # the transport mobkat picks
        assert len(provider.peers) == 3 and len(set(provider.peers)) == 1  # one kept-alive socket
        assert provider.open_connections() == 1
    finally:
        services.close()
    assert client.is_closed()
    closed = threading.Event()
    for _ in range(100):  # the server notices the client's close on its own loop
        if provider.runtime.run(_count(provider)) == 0:
            break
        closed.wait(0.05)
    assert provider.runtime.run(_count(provider)) == 0


async def _client_for(services: SessionServices) -> openai.AsyncOpenAI:
    return services.client_for("openai")


async def _count(provider: Provider) -> int:
    return provider.open_connections()


def _refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


@pytest.mark.parametrize(("where", "error"), [
    ("refused", openai.APIConnectionError),
    ("/hangup", openai.APIConnectionError),
    ("/slow", openai.APITimeoutError),
])
def test_transport_failures_are_the_sdks_usual_errors(provider: Provider, where: str,
                                                      error: type[openai.APIError]) -> None:
    """A refused connection or a hang-up is ``APIConnectionError`` (not a timeout, as aiohttp's adapter
    would say); a timeout is ``APITimeoutError``, as with the SDK's default transport."""
    base_url = _refused_url() if where == "refused" else f"{provider.base_url}{where}/v1"

    async def call() -> None:
        pool = ClientPool()
        try:
            client = pool.client(Endpoint("openai", base_url, "sk-test")).with_options(max_retries=0, timeout=0.2)
            with pytest.raises(error) as raised:
                await client.post("/chat/completions", cast_to=object, body={"model": "m", "messages": []})
            assert not isinstance(raised.value, openai.APITimeoutError) or error is openai.APITimeoutError
        finally:
            await pool.aclose()

    asyncio.run(call())


def test_aclose_closes_each_client_on_its_own_loop(provider: Provider) -> None:
    pool = ClientPool()
    endpoint = Endpoint("openai", provider.base_url + "/v1", "sk-test")

    async def use() -> openai.AsyncOpenAI:
        client = pool.client(endpoint)
        assert client is pool.client(endpoint)  # one client per endpoint and loop
        await client.post("/chat/completions", cast_to=object, body={"model": "m", "messages": []})
        return client

    with AsyncRuntime("test-other-loop") as other:
        there = other.run(use())

        async def here() -> openai.AsyncOpenAI:
            client = await use()
            assert client is not there
            await pool.aclose()
            return client

        mine = asyncio.run(here())
        assert mine.is_closed() and there.is_closed()
