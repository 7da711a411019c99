"""``mobkat simulator``: run the offline OpenAI simulator in the foreground until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Any

from mobkat.cli.argtypes import non_negative

if TYPE_CHECKING:  # the simulator (and the openai SDK under it) loads only when the command runs
    from mobkat.simulator import Simulator


def register(subparsers: Any) -> None:
    """Add the ``simulator`` subcommand."""
    parser = subparsers.add_parser(
        "simulator",
        help="run the offline OpenAI simulator (Realtime + Chat Completions)",
        description="Serve a deterministic, offline stand-in for the OpenAI API on one loopback port. "
        "Point the openai SDK at the printed base_url.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument(
        "--pace",
        type=non_negative,
        default=0.0,
        help="seconds of wall time per second of generated audio (default 0: as fast as possible)",
    )
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.set_defaults(func=run)


def banner(sim: Simulator) -> str:
    """What the command prints once it listens."""
    from mobkat.speech.shared import describe
    return (
        f"mobkat simulator listening: base_url={sim.base_url}\n"
        f"  realtime: {sim.realtime_url}?model=gpt-realtime-2\n"
        f"  point the openai SDK at it: OPENAI_BASE_URL={sim.base_url} OPENAI_API_KEY=sk-sim\n"
        f"  speech: {describe()}\n"
        "  press Ctrl-C to stop"
    )


async def _serve(sim: Simulator) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(banner(sim), flush=True)
        await stop.wait()
    print("mobkat simulator stopped", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; exit code 0 on a clean stop."""
    from mobkat.simulator import Simulator, SimulatorScript

    sim = Simulator(
        args.host,
        args.port,
        SimulatorScript(pace=args.pace),
        allow_remote=args.allow_remote,
        record_frames=False,  # a long-running server must not keep every frame in memory
    )
    asyncio.run(_serve(sim))
    return 0
