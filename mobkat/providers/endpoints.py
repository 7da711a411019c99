"""Where a provider is reached and with which key: config + environment → an ``AsyncOpenAI`` client."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from openai import AsyncOpenAI

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


class ClientPool:
    """One ``AsyncOpenAI`` per endpoint and event loop (the SDK's HTTP pool is bound to its loop)."""

    def __init__(self) -> None:
        self._clients: dict[tuple[int, Endpoint], AsyncOpenAI] = {}

    def client(self, endpoint: Endpoint) -> AsyncOpenAI:
        key = (id(asyncio.get_running_loop()), endpoint)
        client = self._clients.get(key)
        if client is None:
            client = AsyncOpenAI(api_key=endpoint.api_key, base_url=endpoint.base_url,
                                 websocket_base_url=endpoint.websocket_base_url, max_retries=2)
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
