"""The ``Simulator``: an aiohttp app speaking OpenAI's Chat Completions and Realtime on one loopback port."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import TracebackType
from typing import Any

from aiohttp import web

from mobkat.errors import InvalidInputError
from mobkat.net import is_loopback
from mobkat.runtime import AsyncRuntime
from mobkat.simulator.chat import handle_chat
from mobkat.simulator.control import SimulatorControl
from mobkat.simulator.real_speech import warm_up
from mobkat.simulator.realtime import RealtimeConnection
from mobkat.simulator.script import ErrorSpec, SimulatorScript, ToolRule
from mobkat.simulator.stats import SimulatorStats

log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 16 * 1024 * 1024
CLOSE_TIMEOUT_S = 2.0  # how long a closing socket waits for the client's close frame
MODELS = (
    "gpt-realtime-2",
    "gpt-realtime",
    "gpt-realtime-mini",
    "gpt-4o-realtime-preview",
    "gpt-5-mini",
    "gpt-4.1-mini",
    "gpt-4o-mini",
    "gpt-4o-mini-transcribe",
)
_CREATED = 1_700_000_000


def _error(status: int, message: str, type: str = "invalid_request_error", code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return web.json_response(body, status=status)


class Simulator:
    """A local, deterministic stand-in for the OpenAI API (see docs/simulator.md).

    Point the ``openai`` SDK at :attr:`base_url`. ``stats`` keeps every server frame unless
    ``record_frames=False`` (long-running servers). Run it on its own loop thread with
    :meth:`start`/:meth:`stop` (or ``with Simulator() as sim``), or on the caller's loop with
    :meth:`start_async`/:meth:`stop_async` (or ``async with``).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        script: SimulatorScript | None = None,
        *,
        allow_remote: bool = False,
        record_frames: bool = True,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise InvalidInputError(
                f"the simulator listens on loopback only; {host!r} is not a loopback address "
                "(allow_remote=True, or --allow-remote, listens there anyway)",
                details={"host": host},
            )
        if not 0 <= port <= 65535:
            raise InvalidInputError(f"port {port} is out of range 0..65535", details={"port": port})
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._control = SimulatorControl(script or SimulatorScript(), record_frames=record_frames)
        self._runner: web.AppRunner | None = None
        self._runtime: AsyncRuntime | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    # -- addresses and state ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        if self._port is None:
            raise InvalidInputError("the simulator is not running; start() it first")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``: the SDK's ``base_url`` (it derives ``ws://…/v1/realtime`` from it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def realtime_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/realtime"

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def stats(self) -> SimulatorStats:
        return self._control.stats

    @property
    def script(self) -> SimulatorScript:
        """The live script; mutate it between steps or assign a new one (takes effect at once)."""
        return self._control.script

    @script.setter
    def script(self, script: SimulatorScript) -> None:
        self._control.script = script

    # -- scripting helpers -----------------------------------------------------------------------
    def add_tool_rule(self, rule: ToolRule) -> None:
        """Append a tool rule (rules are tried in order; the first match wins)."""
        self.script.tool_rules = [*self.script.tool_rules, rule]

    def set_pace(self, pace: float) -> None:
        """Seconds of wall time per second of generated audio (0 = as fast as possible)."""
        self.script.pace = pace

    def drop_connections_after(self, events: int, *, once: bool = True) -> None:
        """Abort realtime sockets (no close frame) after ``events`` more server events each.

        With ``once`` the fault clears itself after the first drop, so a reconnect works.
        """
        self._control.change_faults(drop_after_events=events, drop_once=once)

    def drop_connections(self) -> int:
        """Abort every open realtime socket now (no close frame, like a network failure); returns how many."""
        return self._control.drop_all()

    def delay_events(self, seconds: float) -> None:
        """Sleep ``seconds`` before every realtime server event (0 to stop)."""
        self._control.change_faults(delay_s=seconds)

    def send_error(
        self,
        code: str = "server_error",
        message: str = "The simulator was scripted to fail.",
        *,
        type: str = "server_error",
        close: bool = False,
    ) -> int:
        """Send an ``error`` event on every open realtime connection (queued for the next one if none).

        Returns how many connections it went to; ``close`` closes them afterwards.
        """
        return self._control.send_error(ErrorSpec(code=code, message=message, type=type, close=close))

    def expire_sessions(self) -> int:
        """Expire every open realtime session now (``session_expired`` error, then close)."""
        return self._control.expire_all()

    def expire_sessions_after(self, seconds: float | None) -> None:
        """Expire each realtime session ``seconds`` after it connected (None: never)."""
        self._control.change_faults(expire_after_s=seconds)

    def clear_faults(self) -> None:
        self._control.change_faults(drop_after_events=None, delay_s=0.0, pending_errors=[], expire_after_s=None)

    def notify_script_changed(self) -> None:
        """Tell open connections the script changed (only needed after mutating ``faults`` in place)."""
        self._control.notify()

    # -- lifecycle --------------------------------------------------------------------------------
    async def start_async(self) -> Simulator:
        """Start serving on the running loop."""
        if self._runner is not None:
            return self
        try:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.host, self._requested_port, type=socket.SOCK_STREAM
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            raise InvalidInputError(
                f"the simulator cannot listen on {self.host}:{self._requested_port}: {exc}"
            ) from exc
        self._control.loop = asyncio.get_running_loop()
        runner = web.AppRunner(self._app(), handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._port = sock.getsockname()[1]
        self._runner = runner
        warm_up(self.script)  # voice="speech": load the real voice now, not during the first reply
        return self

    async def stop_async(self) -> None:
        """Close every connection and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await asyncio.gather(
            *(ws.close(code=1001, message=b"simulator stopping") for ws in list(self._sockets)),
            return_exceptions=True,
        )
        await runner.cleanup()
        self._control.loop = None

    def start(self) -> Simulator:
        """Start on a dedicated ``AsyncRuntime`` thread (for synchronous callers)."""
        if self._runtime is None:
            self._runtime = AsyncRuntime(name="mobkat-simulator").start()
            try:
                self._runtime.run(self.start_async(), timeout=10)
            except BaseException:
                self._runtime.stop()
                self._runtime = None
                raise
        return self

    def stop(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is None:
            return
        try:
            runtime.run(self.stop_async(), timeout=10)
        finally:
            runtime.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Simulator:
        return await self.start_async()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()

    # -- HTTP -------------------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_FRAME_BYTES)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await handle_chat(request, self._control)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [self._model_entry(m) for m in MODELS]})

    async def _model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in MODELS:
            return _error(404, f"The model '{model}' does not exist", code="model_not_found")
        return web.json_response(self._model_entry(model))

    @staticmethod
    def _model_entry(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": _CREATED, "owned_by": "mobkat-simulator"}

    async def _not_found(self, request: web.Request) -> web.Response:
        return _error(404, f"The simulator does not serve {request.method} {request.path}.", code="unknown_url")

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        model = request.query.get("model")
        if not model:
            return _error(400, "Missing required parameter: 'model'.", code="missing_required_parameter")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, autoping=True, timeout=CLOSE_TIMEOUT_S)
        if not ws.can_prepare(request).ok:
            return _error(426, "GET /v1/realtime must be a WebSocket upgrade.")
        try:
            await ws.prepare(request)
        except ConnectionResetError as exc:  # the client hung up during the handshake (e.g. its process exits)
            log.debug("realtime handshake with a client that went away: %s", exc)
            return web.Response(status=499)  # never sent: aiohttp drops a response to a closed transport quietly
        self._sockets.add(ws)
        try:
            await RealtimeConnection(self._control, ws, request, model).serve()
        finally:
            self._sockets.discard(ws)
            if not ws.closed:
                await ws.close()
        return ws
