"""The server host: options, what handlers reach (realm, sessions, live listener), start-up and shutdown.

All of the server's asyncio code runs on the session services' I/O loop (``services.runtime``);
the calling thread only waits for it, handles SIGTERM/SIGINT, and stops the actors afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from mobkat.config import MobkatConfig, load_config
from mobkat.errors import ChannelNotFoundError, InvalidInputError, MobkatError
from mobkat.rpc import faults, live, mob, sessions
from mobkat.rpc.live_ws import LiveWsListener
from mobkat.rpc.mob_directory import MobDirectory
from mobkat.rpc.options import ServerOptions
from mobkat.rpc.realms import Realm, SessionDirectory, SessionEntry
from mobkat.rpc.registry import MethodRegistry
from mobkat.rpc.server import serve_stdio, start_tcp
from mobkat.session import SessionServices
from mobkat.store import SessionStore

if TYPE_CHECKING:
    from mobkat.simulator import Simulator

log = logging.getLogger(__name__)

class ServerHost:
    """Everything a method handler can reach."""

    def __init__(self, options: ServerOptions, realm: Realm, config: MobkatConfig, store: SessionStore,
                 simulator: Simulator | None = None) -> None:
        self.options = options
        self.realm = realm
        self.config = config
        self.store = store
        self.simulator = simulator
        self.services = SessionServices(store=store, config=config,
                                        simulator_base_url=simulator.base_url if simulator else None)
        self.sessions = SessionDirectory(self.services, tool_timeout_s=options.live_tool_timeout_ms / 1000)
        self.mobs = MobDirectory(self.services, self.sessions, base_dir=options.context_root,
                                 tool_timeout_s=options.live_tool_timeout_ms / 1000)
        self.channels: dict[str, SessionEntry] = {}
        self.live: LiveWsListener | None = None
        self.registry = MethodRegistry()
        sessions.register(self.registry)
        if options.live_ws is not None:
            live.register(self.registry)
        mob.register(self.registry)  # after live/*: mob/member_live_* are gated on it
        if options.fault_injection:
            faults.register(self.registry)

    def method_hint(self, method: str) -> str:
        """Why an unknown method is unknown, when we can tell."""
        if method.startswith(("live/", "mob/member_live_")) and self.options.live_ws is None:
            family = "mob/member_live_*" if method.startswith("mob/") else "live/*"
            return f" ({family} methods need the server started with --live-ws ADDR)"
        if method.startswith("fault/") and not self.options.fault_injection:
            return " (fault/* methods need the server started with --fault-injection)"
        return ""

    async def channel_entry(self, channel_id: str) -> SessionEntry:
        """The session actor that owns ``channel_id`` (channels opened elsewhere are found too)."""
        entry = self.channels.get(channel_id)
        if entry is not None:
            return entry
        for candidate in self.sessions.entries():
            if await candidate.call("live_channel_id") == channel_id:
                self.channels[channel_id] = candidate
                return candidate
        raise ChannelNotFoundError(f"channel {channel_id} not found", details={"channel_id": channel_id})

    # -- running -------------------------------------------------------------------------------------
    async def serve(self, stop: asyncio.Event, stdio: tuple[int, int] | None) -> None:
        """Bind the listeners, then serve until stdin closes (stdio) or ``stop`` is set."""
        options = self.options
        tcp_server = None
        try:
            if options.live_ws is not None:
                self.live = await LiveWsListener(*options.live_ws, scheme=options.live_ws_scheme,
                                                 token_ttl_s=options.token_ttl_s,
                                                 max_connections=options.live_ws_max_connections).start()
                _say(f"mobkat-rpc live-ws listening on {self.live.base_url} (advertised scheme: {self.live.scheme})")
            if options.tcp is not None:
                tcp_server = await start_tcp(self, options.tcp)
                host, port = next(iter(tcp_server.sockets)).getsockname()[:2]
                _say(f"mobkat-rpc listening on tcp://{host}:{port} (realm {self.realm.realm_id})")
            waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
            if stdio is not None:
                waiters.append(asyncio.create_task(serve_stdio(self, *stdio)))
            done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            if tcp_server is not None:
                tcp_server.close()
            if self.live is not None:
                await self.live.stop()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_server(options: ServerOptions, *, stdio: tuple[int, int] | None) -> int:
    """Start everything, serve, and shut down cleanly; returns the exit code."""
    options.check()
    if options.live_ws is None and options.tcp is None and stdio is None:
        raise InvalidInputError("nothing to serve: no stdio and no --tcp")
    realm = Realm.resolve(realm_id=options.realm, isolated=options.isolated, state_root=options.state_root,
                          backend=options.realm_backend)
    config = load_config(project_dir=options.context_root, user_dir=options.user_config_root)
    simulator: Simulator | None = None
    if options.simulator:
        from mobkat.mob.sim_rules import PEER_RULES
        from mobkat.simulator import Simulator, SimulatorScript  # only servers that use it pay for the import

        simulator = Simulator(script=SimulatorScript(pace=options.simulator_pace), record_frames=False).start()
        for rule in PEER_RULES:  # simulated mob members relay peer questions deterministically
            simulator.add_tool_rule(rule)
        _say(f"mobkat-rpc: the built-in simulator stands in for every provider ({simulator.base_url}); "
             "no real model is called")
    store = realm.open_store()
    host: ServerHost | None = None
    try:
        host = ServerHost(options, realm, config, store, simulator)
        if options.live_ws is not None and simulator is None:
            _require_live_credential(host)
        return _serve(host, stdio)
    finally:
        if host is not None:
            host.services.close()
        store.close()
        if simulator is not None:
            simulator.stop()


def _require_live_credential(host: ServerHost) -> None:
    try:
        host.services.endpoints.resolve("openai")
    except MobkatError as exc:
        raise InvalidInputError(
            f"--live-ws needs an OpenAI credential for live channels: {exc.message}. Set OPENAI_API_KEY, "
            "or pass --simulator (or MOBKAT_SIMULATOR=1) to use the offline simulator") from None


def _serve(host: ServerHost, stdio: tuple[int, int] | None) -> int:
    runtime = host.services.runtime.start()
    stop = asyncio.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        with contextlib.suppress(RuntimeError):
            runtime.call_soon(stop.set)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        runtime.run(host.serve(stop, stdio), timeout=None)
    finally:
        host.mobs.stop_all()
        host.sessions.stop_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
