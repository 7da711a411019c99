"""``mobkat rpc`` (also ``mobkat-rpc``): the JSON-RPC server on stdio, or on TCP with ``--tcp``.

stdout carries only JSON-RPC lines: before serving, the real stdout is kept for the protocol and
file descriptor 1 is pointed at stderr, so nothing else can ever print there.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

from mobkat.cli.argtypes import non_negative
from mobkat.errors import InvalidInputError
from mobkat.rpc.options import STORE_DSN_ENV, Address, ServerOptions
from mobkat.rpc.tokens import token_ttl_from_env

SIMULATOR_ENV = "MOBKAT_SIMULATOR"
LOG_LEVEL_ENV = "MOBKAT_LOG_LEVEL"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def parse_address(text: str) -> Address:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6); port 0 picks a free port."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:0)")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: port {number} is out of range 0..65535")
    return host, number


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def read_auth_token(path: Path) -> str:
    """The shared secret in ``path`` (surrounding whitespace removed); a typed error if unreadable or empty."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--auth-token-file {path}: cannot read it: {exc}",
                                details={"flag": "--auth-token-file"}) from None
    if not token:
        raise InvalidInputError(f"--auth-token-file {path}: the file is empty", details={"flag": "--auth-token-file"})
    return token


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``rpc`` subcommand."""
    parser = subparsers.add_parser(
        "rpc", help="serve the JSON-RPC API (stdio by default)",
        description="JSON-RPC 2.0, one JSON object per line, on stdin/stdout (logs on stderr) or on TCP.")
    parser.add_argument("--tcp", type=parse_address, metavar="ADDR", help="serve on TCP instead of stdio")
    parser.add_argument("--rest", type=parse_address, metavar="ADDR",
                        help="also serve upstream's REST routes (GET /models/catalog, /sessions, ...) on HTTP at ADDR; "
                             "without --tcp, REST only (no stdio). docs/rest.md")
    parser.add_argument("--live-ws", type=parse_address, metavar="ADDR",
                        help="listen for live-channel WebSockets (enables live/*); port 0 picks a free port")
    parser.add_argument("--live-ws-scheme", choices=("ws", "wss"), default="ws",
                        help="scheme of the advertised live socket URL (behind a TLS proxy: wss)")
    parser.add_argument("--live-webrtc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--live-ws-max-connections", type=_positive_int, default=32, metavar="N",
                        help="live sockets open at once before new ones get HTTP 503 (default 32, as upstream)")
    parser.add_argument("--live-tool-timeout-ms", type=_positive_int, default=30_000, metavar="MS",
                        help="timeout of a tool call inside a live turn (default 30000)")
    parser.add_argument("--realm", metavar="ID", help="serve this realm's sessions (default: a new isolated realm)")
    parser.add_argument("--isolated", action="store_true", help="a new, private realm for this process")
    parser.add_argument("--instance", metavar="ID", help="an instance label reported by config/get")
    parser.add_argument("--realm-backend", choices=("sqlite", "memory", "postgres", "jsonl"), default="sqlite",
                        help="where sessions are stored (default sqlite; memory keeps nothing; postgres: in the "
                             "database of --store-dsn, shared by every server pointed at it)")
    parser.add_argument("--store-dsn", metavar="DSN",
                        help=f"with --realm-backend postgres: the database (postgresql://user@host/db or libpq "
                             f"key=value; default ${STORE_DSN_ENV}; keep passwords in ~/.pgpass or PGPASSWORD)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run the mobs clients create on a Ray cluster: 'local' starts one here, HOST:PORT joins "
                             "a head (pip install 'mobkat[ray]'; their members' sessions answer mob/* methods, not "
                             "session/*; docs/distributed.md)")
    parser.add_argument("--state-root", type=Path, metavar="PATH",
                        help="state directory (default $MOBKAT_STATE_ROOT or ~/.mobkat/state)")
    parser.add_argument("--context-root", type=Path, metavar="PATH",
                        help="project directory whose .mobkat/config.toml applies (default: current directory)")
    parser.add_argument("--user-config-root", type=Path, metavar="PATH",
                        help="directory of the user config.toml (default $MOBKAT_CONFIG_HOME or ~/.mobkat)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow non-loopback --tcp/--live-ws addresses (unauthenticated unless "
                             "--auth-token-file is given: a warning says so)")
    parser.add_argument("--simulator", action="store_true",
                        help=f"send every provider call to the built-in offline simulator (also {SIMULATOR_ENV}=1)")
    parser.add_argument("--simulator-pace", type=non_negative, default=0.0, metavar="SECONDS",
                        help="simulator: wall seconds per second of generated audio (default 0: instant)")
    parser.add_argument("--fault-injection", action="store_true",
                        help="register fault/member_crash and fault/provider_drop (drills and tests only)")
    parser.add_argument("--allow-python-tools", action="append", default=[], metavar="PATTERN",
                        help="let definitions sent over RPC name these Python tools in tools.python "
                             "('pkg.mod:func' or 'pkg.mod:*'; repeatable; default: none)")
    parser.add_argument("--definitions-root", type=Path, metavar="DIR",
                        help="directory that mob/create paths and skill paths sent over RPC must stay inside "
                             "(default: none, so RPC definitions read no files)")
    parser.add_argument("--auth-token-file", type=Path, metavar="FILE",
                        help="require the shared secret in FILE on the TCP port and the live WebSocket")
    parser.add_argument("--max-connections", type=_positive_int, default=64, metavar="N",
                        help="JSON-RPC TCP connections served at once; more are refused (default 64)")
    parser.add_argument("--max-line-bytes", type=_positive_int, default=8 * 1024 * 1024, metavar="N",
                        help="longest JSON-RPC request line; longer ones are refused unread (default 8 MiB)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper,
                        help=f"stderr log level (default ${LOG_LEVEL_ENV} or WARNING)")
    parser.set_defaults(func=run)


def options_from(args: argparse.Namespace) -> ServerOptions:
    if args.live_webrtc:
        raise InvalidInputError("--live-webrtc: mobkat has no WebRTC transport; use --live-ws ADDR")
    if args.realm_backend == "jsonl":
        raise InvalidInputError("--realm-backend jsonl is not supported by mobkat; use sqlite (default) or memory")
    try:
        ttl = token_ttl_from_env()
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    simulator = args.simulator or os.environ.get(SIMULATOR_ENV, "").strip().lower() in ("1", "true", "yes")
    return ServerOptions(
        tcp=args.tcp, rest=args.rest, live_ws=args.live_ws, live_ws_scheme=args.live_ws_scheme, realm=args.realm,
        isolated=args.isolated, instance=args.instance, realm_backend=args.realm_backend,
        store_dsn=args.store_dsn or (os.environ.get(STORE_DSN_ENV) if args.realm_backend == "postgres" else None),
        state_root=args.state_root, ray=args.ray, context_root=args.context_root,
        user_config_root=args.user_config_root,
        allow_remote=args.allow_remote, simulator=simulator, simulator_pace=args.simulator_pace,
        live_tool_timeout_ms=args.live_tool_timeout_ms, token_ttl_s=ttl,
        live_ws_max_connections=args.live_ws_max_connections, fault_injection=args.fault_injection,
        allow_python_tools=tuple(args.allow_python_tools), definitions_root=args.definitions_root,
        auth_token=read_auth_token(args.auth_token_file) if args.auth_token_file else None,
        max_connections=args.max_connections, max_line_bytes=args.max_line_bytes)


def run(args: argparse.Namespace) -> int:
    """Serve until stdin closes (stdio) or SIGTERM/SIGINT."""
    level = args.log_level or os.environ.get(LOG_LEVEL_ENV, "WARNING").upper()
    if level not in LOG_LEVELS:
        raise InvalidInputError(f"{LOG_LEVEL_ENV}={level!r} is not a log level ({', '.join(LOG_LEVELS)})")
    logging.basicConfig(stream=sys.stderr, level=level,
                        format="%(asctime)s mobkat-rpc %(levelname)s %(name)s: %(message)s")
    options = options_from(args)
    options.check()
    stdio: tuple[int, int] | None = None
    if options.tcp is None and options.rest is None:
        sys.stdout.flush()
        protocol_out = os.dup(1)
        os.dup2(2, 1)  # from now on, anything printed to "stdout" lands on stderr
        stdio = (os.dup(0), protocol_out)
    from mobkat.rpc.host import run_server  # the heavy imports, once the flags are known to be good

    try:
        return run_server(options, stdio=stdio)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise InvalidInputError(f"cannot listen: {_address_of(exc, options)} is already in use (another "
                                "server is running there?); pick another port, or port 0 for a free one",
                                details={"errno": exc.errno}) from None


def _address_of(exc: OSError, options: ServerOptions) -> str:
    """The address a bind failed on, as the flag that asked for it."""
    text = str(exc)
    for flag, address in (("--tcp", options.tcp), ("--live-ws", options.live_ws), ("--rest", options.rest)):
        if address is not None and f"'{address[0]}', {address[1]})" in text:
            return f"{flag} {address[0]}:{address[1]}"
    return "the address"
