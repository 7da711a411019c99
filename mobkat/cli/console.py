"""``mobkat console --connect tcp://HOST:PORT``: the browser console attached to a running ``mobkat rpc`` server.

The same page and wire as ``mobkat run FILE --web`` (docs/console.md), with the mob side a
:class:`~mobkat.console.remote.RemoteSource`. The console has its own per-run token (in the printed
URL); the server's ``--auth-token-file`` secret stays in this process and never reaches the browser.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from mobkat.cli.rpc import parse_address, read_auth_token
from mobkat.console.address import parse_web_address
from mobkat.errors import MobkatError

if TYPE_CHECKING:
    from mobkat.console import Console


def parse_connect(text: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (or ``HOST:PORT``) → ``(host, port)``; argparse reports a bad value."""
    value = text.strip()
    if "://" in value:
        scheme, _, value = value.partition("://")
        if scheme != "tcp":
            raise argparse.ArgumentTypeError(f"{text!r}: only tcp://HOST:PORT is supported")
    return parse_address(value)


def tcp_text(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_remote_console(connect: tuple[str, int], *, auth_token: str | None = None, mob_id: str | None = None,
                         web: tuple[str, int] = ("127.0.0.1", 0)) -> Console:
    """Connect to the server, attach to its mob and serve the console; returns the started
    :class:`~mobkat.console.Console` (``.url`` to open, ``.stop()`` to end)."""
    from mobkat.console import Console
    from mobkat.console.remote import RemoteSource

    source = RemoteSource(tcp_text(connect), auth_token=auth_token, mob_id=mob_id)
    host, port = web
    return Console(source, host, port).start()


def _run(args: argparse.Namespace) -> int:
    from mobkat.net import is_loopback

    token = read_auth_token(args.auth_token_file) if args.auth_token_file else None
    try:
        console = start_remote_console(args.connect, auth_token=token, mob_id=args.mob, web=args.web)
    except MobkatError as exc:
        print(f"mobkat console: error: {exc}", file=sys.stderr)
        return 1
    source = console.source
    host = args.web[0]
    if not is_loopback(host):
        print(f"[web] WARNING: the console listens on {host}, not on loopback: anyone who can reach it and "
              "has the URL can talk to the mob", flush=True)
    print(f"[web] mob {source.mob_id} at tcp://{tcp_text(args.connect)}", flush=True)
    if source.talk_blocked:
        print(f"[web] push-to-talk is off: {source.talk_blocked}", flush=True)
    print(f"[web] console: {console.url}", flush=True)
    stop = threading.Event()

    def terminate(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {signum: signal.signal(signum, terminate) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        console.stop()
        print("[web] console stopped", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``console`` subcommand."""
    parser = subparsers.add_parser(
        "console", help="the browser console attached to a running `mobkat rpc --tcp` server",
        description="Serve the browser console (docs/console.md) for a mob of a running `mobkat rpc --tcp` "
                    "server. Push-to-talk needs the server's --live-ws.")
    parser.add_argument("--connect", type=parse_connect, required=True, metavar="tcp://HOST:PORT",
                        help="the running `mobkat rpc --tcp` server")
    parser.add_argument("--auth-token-file", type=Path, metavar="FILE",
                        help="the server's --auth-token-file secret (it stays in this process)")
    parser.add_argument("--mob", metavar="MOB_ID", help="the mob to show (default: the server's only mob)")
    parser.add_argument("--web", type=parse_web_address, default=("127.0.0.1", 0), metavar="ADDR",
                        help="where the console listens: HOST:PORT, :PORT, PORT or HOST (default 127.0.0.1, "
                             "a free port)")
    parser.set_defaults(func=_run)
