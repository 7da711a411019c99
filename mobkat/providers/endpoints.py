"""Where a provider is reached and with which key: config + environment → an ``AsyncOpenAI`` client."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2
from openai import AsyncOpenAI, DefaultAioHttpClient

from mobkat.config import MobkatConfig
from mobkat.errors import ConfigError, MissingApiKeyError

SIMULATOR_API_KEY = "sk-mobkat-simulator"


@dataclass(frozen=True)
class Endpoint:
    """A resolved provider endpoint. ``base_url=None`` lets the SDK decide (it honours ``OPENAI_BASE_URL``)."""

    provider: str
    base_url: str | None
    api_key: str
    websocket_base_url: str | None = None

    def __repr__(self) -> str:  # never show the key
        return f"Endpoint(provider={self.provider!r}, base_url={self.base_url!r})"


class EndpointResolver:
    """Resolves endpoints from config; ``simulator_base_url`` sends every provider to the simulator."""

    def __init__(self, config: MobkatConfig, *, simulator_base_url: str | None = None) -> None:
        self.config = config
        self.simulator_base_url = simulator_base_url

    def resolve(self, provider: str) -> Endpoint:
        if self.simulator_base_url is not None:
            return Endpoint(provider, self.simulator_base_url, SIMULATOR_API_KEY)
        settings = self.config.provider(provider)
        if provider == "self_hosted" and not settings.base_url:
            raise ConfigError("config", None, "providers.self_hosted.base_url",
                              "a self-hosted model needs a base_url for its OpenAI-compatible endpoint")
        key = ""
        if settings.api_key_env:
            key = os.environ.get(settings.api_key_env, "")
            if not key:
                raise MissingApiKeyError(
                    f"provider {provider!r} needs an API key: set the environment variable "
                    f"{settings.api_key_env} (or run against the simulator with --simulator)",
                    details={"provider": provider, "env": settings.api_key_env},
                )
        return Endpoint(provider, settings.base_url, key or "none", settings.websocket_base_url)


class SdkErrorsTransport(httpx2.AsyncBaseTransport):
    """The SDK's aiohttp transport, with the ``httpx2`` error classes the SDK's default transport raises.

    The aiohttp adapter vendored in openai 3.63.0 maps every ``aiohttp.ClientConnectionError`` to
    ``httpx2.ConnectTimeout``, so a refused connection or a server that hangs up would surface as the
    SDK's ``APITimeoutError`` ("Request timed out."). Here they are ``ConnectError`` /
    ``RemoteProtocolError`` / ``ReadError`` again (the SDK's ``APIConnectionError``); real timeouts stay
    timeouts. Retries, headers, auth and status errors are the SDK's own and untouched."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx2.ConnectTimeout as exc:
            raise _unmasked(exc, request, httpx2.ConnectError) from exc.__cause__
        response.stream = _SdkErrorsStream(response.stream, request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class _SdkErrorsStream(httpx2.AsyncByteStream):
    """A response body whose read errors are unmasked as :class:`SdkErrorsTransport` does."""

    def __init__(self, inner: Any, request: httpx2.Request) -> None:
        self.inner, self.request = inner, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.inner:
                yield chunk
        except httpx2.ConnectTimeout as exc:
            raise _unmasked(exc, self.request, httpx2.ReadError) from exc.__cause__

    async def aclose(self) -> None:
        await self.inner.aclose()


def _unmasked(exc: httpx2.ConnectTimeout, request: httpx2.Request,
              otherwise: type[httpx2.TransportError]) -> httpx2.TransportError:
    """What ``exc`` (raised for an aiohttp error) should have been: itself for a timeout, else a network error."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return exc
    kind: type[httpx2.TransportError] = otherwise
    if isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx2.ConnectError
    elif isinstance(cause, aiohttp.ServerDisconnectedError):
        kind = httpx2.RemoteProtocolError
    return kind(str(exc) or type(cause).__name__, request=request)


class AioHttpClient(DefaultAioHttpClient):
    """The SDK's ``DefaultAioHttpClient`` (its timeout, connection limits and redirects; aiohttp underneath,
    ~0.35 ms less per call than the default ``httpx2`` transport: docs/performance.md#history-size) whose
    transports raise the SDK's usual errors (:class:`SdkErrorsTransport`). One keep-alive pool per client."""

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return SdkErrorsTransport(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx2.AsyncBaseTransport:
        return SdkErrorsTransport(super()._init_proxy_transport(*args, **kwargs))


class ClientPool:
    """One ``AsyncOpenAI`` per endpoint and event loop (its HTTP pool, aiohttp's, is bound to that loop).

    Each client keeps its connections alive across calls (a session's turns reuse one connection)."""

    def __init__(self) -> None:
        # the loop is kept with its clients: while an entry lives, no other loop can reuse its id
        self._clients: dict[tuple[int, Endpoint], tuple[asyncio.AbstractEventLoop, AsyncOpenAI]] = {}

    def client(self, endpoint: Endpoint) -> AsyncOpenAI:
        loop = asyncio.get_running_loop()
        key = (id(loop), endpoint)
        entry = self._clients.get(key)
        if entry is None:
            client = AsyncOpenAI(api_key=endpoint.api_key, base_url=endpoint.base_url,
                                 websocket_base_url=endpoint.websocket_base_url, max_retries=2,
                                 http_client=AioHttpClient())
            entry = self._clients[key] = (loop, client)
        return entry[1]

    async def aclose(self, timeout: float = 10.0) -> None:
        """Close every client on its own loop (this one, or another still running; a closed loop's
        connections are gone with it). Every client is tried; the first failure is raised after."""
        entries, self._clients = list(self._clients.values()), {}
        here = asyncio.get_running_loop()
        failure: BaseException | None = None
        for loop, client in entries:
            try:
                if loop is here:
                    await client.close()
                elif loop.is_running():
                    closing = asyncio.run_coroutine_threadsafe(client.close(), loop)
                    await asyncio.wait_for(asyncio.wrap_future(closing), timeout)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
