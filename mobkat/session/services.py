"""What sessions share: store, config, catalog, provider endpoints, and the I/O event loop."""

from __future__ import annotations

import logging
from collections import deque

from openai import AsyncOpenAI

from mobkat.catalog import Catalog
from mobkat.config import MobkatConfig, load_config
from mobkat.providers import redact
from mobkat.providers.endpoints import ClientPool, EndpointResolver
from mobkat.runtime import AsyncRuntime
from mobkat.session.events import EventHub
from mobkat.session.tools import ToolRegistry
from mobkat.store import MemorySessionStore, SessionStore

log = logging.getLogger(__name__)
STOP_FAILURES_KEPT = 100


class SessionServices:
    """Shared dependencies of a set of sessions. ``close()`` stops the I/O loop if this object started it."""

    def __init__(
        self,
        *,
        store: SessionStore | None = None,
        config: MobkatConfig | None = None,
        catalog: Catalog | None = None,
        simulator_base_url: str | None = None,
        runtime: AsyncRuntime | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.catalog = catalog if catalog is not None else Catalog.default().with_config(self.config)
        self.store: SessionStore = store if store is not None else MemorySessionStore()
        self.endpoints = EndpointResolver(self.config, simulator_base_url=simulator_base_url)
        self.clients = ClientPool()
        redact.install()
        self._owns_runtime = runtime is None
        self.runtime = runtime if runtime is not None else AsyncRuntime("mobkat-io")
        self.stop_failures: deque[str] = deque(maxlen=STOP_FAILURES_KEPT)
        """What failed to stop or close (newest last, at most 100), e.g. ``live channel X (session Y): close:
        TimeoutError: ...``; each is also logged as a warning. Stopping goes on after a failure."""
        self.events = EventHub()
        """Every session's agent events, stamped into envelopes; subscribe to watch sessions' turns."""
        self.shared_tools = ToolRegistry()
        """Tools every session offers besides its own (a session's own tool wins on a name clash), e.g. the
        callback tools an RPC client registered with ``tools/register``."""

    def stop_failed(self, what: str, exc: BaseException) -> None:
        """Record and log that ``what`` (e.g. ``live channel X (session Y): close``) failed to stop."""
        failure = f"{what}: {type(exc).__name__}: {exc}"
        log.warning("failed to stop %s", failure)
        self.stop_failures.append(failure)

    def client_for(self, provider: str) -> AsyncOpenAI:
        """The ``AsyncOpenAI`` client for ``provider`` (call on the runtime's loop)."""
        return self.clients.client(self.endpoints.resolve(provider))

    def start(self) -> SessionServices:
        self.runtime.start()
        return self

    def close(self) -> None:
        """Close provider clients and, if owned, stop the I/O loop."""
        if self.runtime.running:
            try:
                self.runtime.run(self.clients.aclose(), timeout=10)
            except Exception as exc:  # the loop stops regardless
                self.stop_failed("provider clients: close", exc)
        if self._owns_runtime:
            self.runtime.stop()

    def __enter__(self) -> SessionServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
