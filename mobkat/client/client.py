"""``MobkatClient``: the async Python SDK of the mobkat JSON-RPC server.

By default it spawns ``python -m mobkat rpc`` and speaks JSONL over the child's stdin/stdout;
``connect(tcp="host:port")`` talks to a running ``mobkat rpc --tcp`` instead (``auth_token=`` for a
server started with ``--auth-token-file``: it is sent with ``initialize`` and on live sockets). Results are the
pydantic wire models of :mod:`mobkat.rpc.params`; failures are :mod:`mobkat.client.errors` types.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

from mobkat.catalog import ModelsCatalogResponse
from mobkat.client.errors import ConnectionClosed, VersionMismatch
from mobkat.client.events import EnvelopeStream, EventRouter, SessionEvents
from mobkat.client.live import LiveSocket, socket_url
from mobkat.client.mob import MobHandle
from mobkat.client.transport import LINE_LIMIT, RpcConnection
from mobkat.contract import CONTRACT_VERSION
from mobkat.live.wire import SAMPLE_RATE_HZ, ChannelStatus, InputChunk, LiveOpenResult, TurningMode
from mobkat.wire.events import SessionStreamOpenResult
from mobkat.wire.faults import ProviderDropResult
from mobkat.wire.mob import MobCreateResult, MobListResult, MobStatusResult
from mobkat.wire.session import (
    ArchiveResult,
    CapabilitiesResult,
    ConfigResult,
    DeferredCreateResult,
    InitializeResult,
    LiveAck,
    LiveStatusResult,
    RunResult,
    SessionHistory,
    SessionInfo,
    SessionListResult,
    SessionSummary,
)

STDERR_LINES = 200
CLOSE_WAIT_S = 5.0


def _compatible(server: str, client: str = CONTRACT_VERSION) -> bool:
    """0.x: same major and minor; 1.x+: same major."""
    try:
        s, c = ([int(p) for p in v.split("-")[0].split(".")[:2]] for v in (server, client))
    except ValueError:
        return False
    return s == c if s[0] == 0 else s[0] == c[0]


class MobkatClient:
    """Async client; ``async with MobkatClient() as client`` connects with defaults."""

    def __init__(self, server_cmd: Sequence[str] | None = None, *, auth_token: str | None = None) -> None:
        """``auth_token``: the secret of a server started with ``--auth-token-file`` (TCP and live sockets)."""
        self.server_cmd = list(server_cmd) if server_cmd else [sys.executable, "-m", "mobkat", "rpc"]
        self.auth_token = auth_token
        self.process: asyncio.subprocess.Process | None = None
        self.server: InitializeResult | None = None
        self.capabilities: CapabilitiesResult | None = None
        self.stderr_lines: deque[str] = deque(maxlen=STDERR_LINES)
        self._events = EventRouter()
        self._rpc: RpcConnection | None = None
        self._stderr_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> MobkatClient:
        if self._rpc is None:
            await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connection --------------------------------------------------------------------------------
    async def connect(self, *, realm_id: str | None = None, live_ws: bool = False, simulator: bool | None = None,
                      state_root: str | Path | None = None, isolated: bool = False, tcp: str | None = None,
                      user_config_root: str | Path | None = None, context_root: str | Path | None = None,
                      definitions_root: str | Path | None = None, allow_python_tools: Sequence[str] = (),
                      extra_args: Sequence[str] = ()) -> MobkatClient:
        """Spawn the server (or connect to ``tcp``), then ``initialize`` and read its capabilities.
        ``definitions_root`` and ``allow_python_tools`` become the spawned server's ``--definitions-root``
        (the only directory ``create_mob(path=...)`` may read from) and ``--allow-python-tools`` flags."""
        if tcp is not None:
            host, _, port = tcp.rpartition(":")
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port), limit=LINE_LIMIT)
            self._rpc = RpcConnection(reader, writer, self._events.route, name=f"mobkat-rpc at {tcp}")
        else:
            args = self._server_args(realm_id=realm_id, live_ws=live_ws, simulator=simulator, state_root=state_root,
                                     isolated=isolated, user_config_root=user_config_root, context_root=context_root,
                                     definitions_root=definitions_root, allow_python_tools=allow_python_tools)
            env = dict(os.environ)
            if simulator is False:
                env.pop("MOBKAT_SIMULATOR", None)
            self.process = await asyncio.create_subprocess_exec(
                *self.server_cmd, *args, *extra_args, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=LINE_LIMIT, env=env)
            assert self.process.stdin and self.process.stdout and self.process.stderr
            self._stderr_task = asyncio.create_task(self._drain_stderr(self.process.stderr))
            self._rpc = RpcConnection(self.process.stdout, self.process.stdin, self._events.route)
        try:
            self.server = await self.initialize()
        except ConnectionClosed as exc:
            await self._reap()
            raise ConnectionClosed(exc.code, f"{exc.message}; server stderr:\n{self.stderr_text()}") from None
        if not _compatible(self.server.contract_version):
            raise VersionMismatch("version_mismatch", f"server contract {self.server.contract_version} is not "
                                  f"compatible with this client ({CONTRACT_VERSION})")
        self.capabilities = await self.get_capabilities()
        return self

    @staticmethod
    def _server_args(*, realm_id: str | None, live_ws: bool, simulator: bool | None,
                     state_root: str | Path | None, isolated: bool, user_config_root: str | Path | None,
                     context_root: str | Path | None, definitions_root: str | Path | None = None,
                     allow_python_tools: Sequence[str] = ()) -> list[str]:
        args: list[str] = []
        if live_ws:
            args += ["--live-ws", "127.0.0.1:0"]
        if simulator:
            args.append("--simulator")
        if isolated:
            args.append("--isolated")
        if realm_id is not None:  # an empty id goes to the server too, which refuses it
            args += ["--realm", realm_id]
        for flag, path in (("--state-root", state_root), ("--user-config-root", user_config_root),
                           ("--context-root", context_root), ("--definitions-root", definitions_root)):
            if path is not None:
                args += [flag, str(path)]
        for pattern in allow_python_tools:
            args += ["--allow-python-tools", pattern]
        return args

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr_lines.append(line.decode(errors="replace").rstrip("\n"))

    def stderr_text(self) -> str:
        """The server's most recent stderr lines (a spawned server only)."""
        return "\n".join(self.stderr_lines)

    @property
    def rpc(self) -> RpcConnection:
        if self._rpc is None:
            raise ConnectionClosed("not_connected", "the client is not connected; call connect() first")
        return self._rpc

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call any method by name; returns the raw result."""
        return await self.rpc.request(method, params)

    async def close(self) -> None:
        """Disconnect; a spawned server gets stdin closed, SIGTERM, 5 s, then SIGKILL."""
        if self._rpc is not None:
            await self._rpc.close()
            self._rpc = None
        self._events.close()
        await self._reap()

    async def _reap(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), CLOSE_WAIT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 2)

    # -- handshake, catalog, config ----------------------------------------------------------------
    async def initialize(self) -> InitializeResult:
        """The handshake; it also presents :attr:`auth_token`, if any."""
        params = {"auth_token": self.auth_token} if self.auth_token is not None else None
        return InitializeResult.model_validate(await self.request("initialize", params))

    async def get_capabilities(self) -> CapabilitiesResult:
        return CapabilitiesResult.model_validate(await self.request("capabilities/get"))

    async def get_models_catalog(self, provider: str | None = None) -> ModelsCatalogResponse:
        params = {"provider": provider} if provider else {}
        return ModelsCatalogResponse.model_validate(await self.request("models/catalog", params))

    async def get_config(self) -> ConfigResult:
        return ConfigResult.model_validate(await self.request("config/get"))

    async def set_config(self, config: dict[str, Any], *, expected_generation: int | None = None,
                         scope: Literal["project", "user"] | None = None) -> ConfigResult:
        """``config/set``: replace the project (or user) config file with ``config``, validated first."""
        return await self._write_config("config/set", "config", config, expected_generation, scope)

    async def patch_config(self, patch: dict[str, Any], *, expected_generation: int | None = None,
                           scope: Literal["project", "user"] | None = None) -> ConfigResult:
        """``config/patch``: an RFC 7386 merge patch of the project (or user) config file (``None`` deletes)."""
        return await self._write_config("config/patch", "patch", patch, expected_generation, scope)

    async def _write_config(self, method: str, key: str, value: dict[str, Any], expected_generation: int | None,
                            scope: str | None) -> ConfigResult:
        params: dict[str, Any] = {key: value}
        if expected_generation is not None:
            params["expected_generation"] = expected_generation
        if scope is not None:
            params["scope"] = scope
        return ConfigResult.model_validate(await self.request(method, params))

    # -- sessions ----------------------------------------------------------------------------------
    @overload
    async def create_session(self, prompt: str, *, model: str | None = ..., provider: str | None = ...,
                             system_prompt: str | None = ..., labels: dict[str, str] | None = ...,
                             deferred: Literal[False] = ...) -> RunResult: ...

    @overload
    async def create_session(self, prompt: str, *, model: str | None = ..., provider: str | None = ...,
                             system_prompt: str | None = ..., labels: dict[str, str] | None = ...,
                             deferred: Literal[True]) -> DeferredCreateResult: ...

    async def create_session(self, prompt: str, *, model: str | None = None, provider: str | None = None,
                             system_prompt: str | None = None, labels: dict[str, str] | None = None,
                             deferred: bool = False) -> RunResult | DeferredCreateResult:
        """Create a session and run its first turn (``deferred=True``: an idle session, no turn)."""
        params: dict[str, Any] = {"prompt": prompt}
        for key, value in (("model", model), ("provider", provider), ("system_prompt", system_prompt),
                           ("labels", labels)):
            if value is not None:
                params[key] = value
        if deferred:
            params["initial_turn"] = "deferred"
            return DeferredCreateResult.model_validate(await self.request("session/create", params))
        return RunResult.model_validate(await self.request("session/create", params))

    async def start_turn(self, session_id: str, prompt: str, *, model: str | None = None,
                         system_prompt: str | None = None) -> RunResult:
        params: dict[str, Any] = {"session_id": session_id, "prompt": prompt}
        if model is not None:
            params["model"] = model
        if system_prompt is not None:
            params["system_prompt"] = system_prompt
        return RunResult.model_validate(await self.request("turn/start", params))

    async def read_session(self, session_id: str) -> SessionInfo:
        return SessionInfo.model_validate(await self.request("session/read", {"session_id": session_id}))

    async def list_sessions(self, *, labels: dict[str, str] | None = None, include_archived: bool = False,
                            offset: int | None = None, limit: int | None = None) -> list[SessionSummary]:
        params: dict[str, Any] = {"include_archived": include_archived}
        for key, value in (("labels", labels), ("offset", offset), ("limit", limit)):
            if value is not None:
                params[key] = value
        return SessionListResult.model_validate(await self.request("session/list", params)).sessions

    async def read_session_history(self, session_id: str, offset: int = 0, limit: int | None = None) -> SessionHistory:
        """One page of committed rows (server default: 100), parsed into history row models."""
        params: dict[str, Any] = {"session_id": session_id, "offset": offset}
        if limit is not None:
            params["limit"] = limit
        return SessionHistory.model_validate(await self.request("session/history", params))

    async def archive_session(self, session_id: str) -> ArchiveResult:
        return ArchiveResult.model_validate(await self.request("session/archive", {"session_id": session_id}))

    async def subscribe_session_events(self, session_id: str) -> EnvelopeStream:
        """``session/stream_open``: the session's later events (any turn, mob turns too) as envelopes."""
        raw = await self.request("session/stream_open", {"session_id": session_id})
        opened = SessionStreamOpenResult.model_validate(raw)

        async def close(stream_id: str) -> None:
            await self.request("session/stream_close", {"stream_id": stream_id})
            self._events.close_stream(stream_id)

        return EnvelopeStream(close, opened.stream_id, self._events.open_stream(opened.stream_id))

    def session_events(self, session_id: str) -> SessionEvents:
        """Async iterator over ``session/event`` notifications of ``session_id`` (from now on)."""
        return SessionEvents(self._events, session_id)

    # -- live channels -----------------------------------------------------------------------------
    async def live_open(self, session_id: str, turning_mode: TurningMode | None = None, *,
                        seed_max_chars: int | None = None, voice: str | None = None) -> LiveOpenResult:
        params: dict[str, Any] = {"session_id": session_id}
        for key, value in (("turning_mode", turning_mode), ("seed_max_chars", seed_max_chars), ("voice", voice)):
            if value is not None:
                params[key] = value
        return LiveOpenResult.model_validate(await self.request("live/open", params))

    async def live_status(self, channel_id: str) -> ChannelStatus:
        raw = await self.request("live/status", {"channel_id": channel_id})
        return LiveStatusResult.model_validate(raw).status

    async def live_send_input(self, channel_id: str, chunk: InputChunk | dict[str, Any]) -> LiveAck:
        data = chunk if isinstance(chunk, dict) else chunk.model_dump(mode="json")
        return await self._ack("live/send_input", {"channel_id": channel_id, "chunk": data})

    async def live_send_input_text(self, channel_id: str, text: str) -> LiveAck:
        return await self.live_send_input(channel_id, {"kind": "text", "text": text})

    async def live_send_input_audio(self, channel_id: str, pcm_bytes: bytes, sample_rate_hz: int = SAMPLE_RATE_HZ,
                                    channels: int = 1) -> LiveAck:
        """Raw pcm16 bytes; the base64 is done here."""
        chunk = {"kind": "audio", "data": base64.b64encode(pcm_bytes).decode(), "sample_rate_hz": sample_rate_hz,
                 "channels": channels}
        return await self.live_send_input(channel_id, chunk)

    async def live_commit_input(self, channel_id: str, response_modality: Literal["audio", "text"] | None = None
                                ) -> LiveAck:
        params: dict[str, Any] = {"channel_id": channel_id}
        if response_modality is not None:
            params["response_modality"] = {"modality": response_modality}
        return await self._ack("live/commit_input", params)

    async def live_interrupt(self, channel_id: str) -> LiveAck:
        return await self._ack("live/interrupt", {"channel_id": channel_id})

    async def live_truncate(self, channel_id: str, item_id: str, content_index: int, audio_played_ms: int) -> LiveAck:
        return await self._ack("live/truncate", {"channel_id": channel_id, "item_id": item_id,
                                                 "content_index": content_index, "audio_played_ms": audio_played_ms})

    async def live_refresh(self, channel_id: str) -> LiveAck:
        return await self._ack("live/refresh", {"channel_id": channel_id})

    async def live_close(self, channel_id: str) -> LiveAck:
        return await self._ack("live/close", {"channel_id": channel_id})

    def live_connect(self, opened: LiveOpenResult | dict[str, Any] | str) -> LiveSocket:
        """The channel's WebSocket (use as ``async with``): send audio/text, iterate observations."""
        return LiveSocket(socket_url(opened), auth_token=self.auth_token)

    # -- mobs --------------------------------------------------------------------------------------
    async def create_mob(self, definition: dict[str, Any] | None = None, *, path: str | None = None) -> MobHandle:
        """Create and start a mob (nothing spawned): the JSON form of a definition, or ``path`` to a
        TOML file on the server, inside its ``--definitions-root`` (relative paths: to that directory; a
        server started without it reads no files). Python tools need the server's ``--allow-python-tools``."""
        params: dict[str, Any] = {"path": path} if path is not None else {"definition": definition}
        created = MobCreateResult.model_validate(await self.request("mob/create", params))
        return MobHandle(self, created.mob_id)

    def mob(self, mob_id: str) -> MobHandle:
        """A handle on an existing mob (no request is sent)."""
        return MobHandle(self, mob_id)

    async def list_mobs(self) -> list[MobStatusResult]:
        return MobListResult.model_validate(await self.request("mob/list")).mobs

    async def drop_provider_sockets(self) -> int:
        """``fault/provider_drop`` (server started with ``--simulator --fault-injection``): cut the simulator's
        realtime sockets like a network failure; returns how many were open."""
        return ProviderDropResult.model_validate(await self.request("fault/provider_drop", {})).dropped

    @property
    def events_router(self) -> EventRouter:
        """Where notifications go (session events, mob streams)."""
        return self._events

    async def _ack(self, method: str, params: dict[str, Any]) -> LiveAck:
        ack = LiveAck.model_validate(await self.request(method, params))
        return ack


__all__ = ["MobkatClient"]
