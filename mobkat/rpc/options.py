"""What ``mobkat rpc`` was started with; checked before anything heavy is imported or started."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mobkat.errors import InvalidInputError
from mobkat.mob.trust import ToolAllowList
from mobkat.net import is_loopback
from mobkat.rpc.tokens import DEFAULT_TOKEN_TTL_S

Backend = Literal["sqlite", "memory", "postgres"]
STORE_DSN_ENV = "MOBKAT_STORE_DSN"
Address = tuple[str, int]


@dataclass
class ServerOptions:
    """What ``mobkat rpc`` was started with (see ``mobkat rpc --help``)."""

    tcp: Address | None = None
    live_ws: Address | None = None
    rest: Address | None = None
    """``--rest ADDR``: also serve the REST routes (mobkat.rest) there."""
    live_ws_scheme: str = "ws"
    realm: str | None = None
    isolated: bool = False
    instance: str | None = None
    realm_backend: Backend = "sqlite"
    store_dsn: str | None = field(default=None, repr=False)  # may hold a password
    """``--store-dsn`` (or ``$MOBKAT_STORE_DSN``): the PostgreSQL database of ``--realm-backend postgres``."""
    state_root: Path | None = None
    ray: str | None = None
    """``--ray ADDRESS``: mobs created over RPC spread their members over that Ray cluster (docs/distributed.md)."""
    context_root: Path | None = None
    user_config_root: Path | None = None
    allow_remote: bool = False
    simulator: bool = False
    simulator_pace: float = 0.0
    live_tool_timeout_ms: int = 30_000
    token_ttl_s: float = DEFAULT_TOKEN_TTL_S
    live_ws_max_connections: int = 32  # upstream's cap on open live sockets per process
    fault_injection: bool = False  # register fault/* (drills and tests only)
    # -- trust boundaries (docs/security.md) --
    allow_python_tools: tuple[str, ...] = ()
    """``module:function`` or ``module:*`` patterns a definition arriving over RPC may name in ``tools.python``."""
    definitions_root: Path | None = None
    """Directory that ``mob/create {path}`` and skill paths of RPC definitions must resolve inside (None: no files)."""
    auth_token: str | None = None
    """Shared secret (from ``--auth-token-file``) required on the TCP port and the live WebSocket."""
    max_connections: int = 64
    """JSON-RPC TCP connections served at once; more are refused cleanly."""
    max_line_bytes: int = 8 * 1024 * 1024
    """Longest JSON-RPC request line (``mobkat.rpc.protocol.MAX_LINE_BYTES``); longer ones are refused unread."""

    def check(self) -> None:
        """Refuse non-loopback listeners unless ``--allow-remote`` (other hosts could reach them)."""
        for flag, address in (("--tcp", self.tcp), ("--live-ws", self.live_ws), ("--rest", self.rest)):
            if address is not None and not self.allow_remote and not is_loopback(address[0]):
                raise InvalidInputError(
                    f"{flag} {address[0]}:{address[1]} is not a loopback address; other hosts could reach it, so "
                    "pass --allow-remote to listen there anyway (and --auth-token-file FILE to require a token) "
                    f"({flag.lstrip('-')})",
                    details={"flag": flag, "host": address[0]})
        ToolAllowList(self.allow_python_tools)  # a malformed --allow-python-tools pattern stops the start
        if self.ray is not None:
            from mobkat.engine.ray_cluster import RayTarget

            RayTarget(self.ray)  # a malformed --ray address stops the start
        if self.realm_backend == "postgres" and not self.store_dsn:
            raise InvalidInputError(f"--realm-backend postgres needs the database: --store-dsn DSN or ${STORE_DSN_ENV}",
                                    details={"flag": "--store-dsn"})
        if self.store_dsn and self.realm_backend != "postgres":
            raise InvalidInputError(f"--store-dsn is for --realm-backend postgres, not {self.realm_backend}",
                                    details={"flag": "--store-dsn"})
        if self.definitions_root is not None and not self.definitions_root.is_dir():
            raise InvalidInputError(f"--definitions-root {self.definitions_root}: not a directory",
                                    details={"flag": "--definitions-root"})
