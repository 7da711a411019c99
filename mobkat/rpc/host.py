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
from mobkat.engine.ray_cluster import cancel_abort_timer
from mobkat.errors import ChannelNotFoundError, InvalidInputError
from mobkat.rpc import callback_tools, config_methods, faults, live, mob, session_extras, sessions, streams
from mobkat.rpc.auth import remote_notice
from mobkat.rpc.live_ws import LiveWsListener
from mobkat.rpc.mob_directory import MobDirectory
from mobkat.rpc.mob_seats import RayPlacement
from mobkat.rpc.options import ServerOptions
from mobkat.rpc.realms import Realm, SessionDirectory, SessionEntry
from mobkat.rpc.registry import MethodRegistry
from mobkat.rpc.server import ConnectionLimits
from mobkat.rpc.shutdown import RAY_SHUTDOWN_DEADLINE_S, SHUTDOWN_DEADLINE_S, ShutdownDeadline
from mobkat.rpc.stdio import serve_stdio
from mobkat.rpc.tcp import TcpListener
from mobkat.rpc.upstream_methods import not_yet_hint
from mobkat.session import SessionServices
from mobkat.store import SessionStore
from mobkat.store.mob_sqlite import open_mob_records

if TYPE_CHECKING:
    from mobkat.rest.app import RestListener
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
        self.mobs = MobDirectory(self.services, self.sessions, definitions_root=options.definitions_root,
                                 allow_python_tools=options.allow_python_tools,
                                 tool_timeout_s=options.live_tool_timeout_ms / 1000,
                                 records=open_mob_records(realm.root if realm.keeps_files else None),
                                 ray=RayPlacement(options.ray, options.store_dsn,
                                                  realm.root if realm.keeps_files else None) if options.ray else None)
        self.channels: dict[str, SessionEntry] = {}
        self.live: LiveWsListener | None = None
        self.streams = streams.StreamTable()
        self.config_generation = 0
        """Counts config/set|patch writes (upstream's config generation)."""
        self.registry = MethodRegistry()
        sessions.register(self.registry)
        streams.register(self.registry)
        callback_tools.register(self.registry)
        config_methods.register(self.registry)
        session_extras.register(self.registry)
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
        return not_yet_hint(method)

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
        restored = await self.mobs.restore_all()  # before any client: mobs of the realm are there from the start
        if restored:
            _say(f"mobkat-rpc restored {len(restored)} mob(s) of realm {self.realm.realm_id}: {', '.join(restored)}")
        rest: RestListener | None = None
        try:
            if options.live_ws is not None:
                self.live = await LiveWsListener(*options.live_ws, scheme=options.live_ws_scheme,
                                                 token_ttl_s=options.token_ttl_s,
                                                 max_connections=options.live_ws_max_connections,
                                                 auth_token=options.auth_token).start()
                _say(f"mobkat-rpc live-ws listening on {self.live.base_url} (advertised scheme: {self.live.scheme})")
                _notice(remote_notice("--live-ws", self.live.address, options.auth_token is not None))
            limits = ConnectionLimits(max_line_bytes=options.max_line_bytes)
            if options.tcp is not None:
                tcp_server = await TcpListener(self, max_connections=options.max_connections,
                                               auth_token=options.auth_token, limits=limits).start(options.tcp)
                host, port = tcp_server.address
                _say(f"mobkat-rpc listening on tcp://{host}:{port} (realm {self.realm.realm_id})")
                _notice(remote_notice("--tcp", tcp_server.address, options.auth_token is not None))
            if options.rest is not None:
                from mobkat.rest.app import RestListener  # only servers that serve REST pay for the import

                rest = await RestListener(self, auth_token=options.auth_token).start(options.rest)
                _say(f"mobkat-rpc rest listening on {rest.base_url} (realm {self.realm.realm_id})")
                assert rest.address is not None
                _notice(remote_notice("--rest", rest.address, options.auth_token is not None))
            waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
            if stdio is not None:
                waiters.append(asyncio.create_task(serve_stdio(self, *stdio, limits=limits)))
            done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:  # both listeners end their connections at once, each within a few seconds
            closing = [tcp_server.close()] if tcp_server is not None else []
            if rest is not None:
                closing.append(rest.stop())
            if self.live is not None:
                closing.append(self.live.stop())
            await asyncio.gather(*closing)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _notice(line: str | None) -> None:
    if line is not None:
        _say(line)


def run_server(options: ServerOptions, *, stdio: tuple[int, int] | None) -> int:
    """Start everything, serve, and shut down cleanly; returns the exit code."""
    options.check()
    if options.live_ws is None and options.tcp is None and options.rest is None and stdio is None:
        raise InvalidInputError("nothing to serve: no stdio and no --tcp")
    realm = Realm.resolve(realm_id=options.realm, isolated=options.isolated, state_root=options.state_root,
                          backend=options.realm_backend, store_dsn=options.store_dsn)
    lock = realm.lock()  # first: a second server on this state root and realm stops here, having touched nothing
    try:
        return _serve_realm(options, realm, stdio)
    finally:
        if lock is not None:
            lock.release()


def _serve_realm(options: ServerOptions, realm: Realm, stdio: tuple[int, int] | None) -> int:
    """Everything after the realm's lock is held: config, simulator, store, host; shut down cleanly."""
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
        return _serve(host, stdio)  # --live-ws starts without a key: live/open names a missing one
    finally:
        if host is not None:
            host.services.close()
            host.mobs.records.close()
        store.close()
        if simulator is not None:
            simulator.stop()


def _serve(host: ServerHost, stdio: tuple[int, int] | None) -> int:
    runtime = host.services.runtime.start()
    stop = asyncio.Event()
    deadline = ShutdownDeadline(RAY_SHUTDOWN_DEADLINE_S if host.options.ray else SHUTDOWN_DEADLINE_S)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        cancel_abort_timer()  # a mob on Ray: Ray's own SIGTERM handler ran first and would abort us in 3 s
        log.info("signal %d: stopping", signum)
        deadline.arm()  # whatever does not stop on request, the process ends within the deadline
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
