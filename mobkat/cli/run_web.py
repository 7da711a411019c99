"""``mobkat run FILE --web [ADDR]``: the browser console beside the run (mobkat/console, docs/console.md)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from mobkat.console import Console
from mobkat.mob.mob import Mob
from mobkat.net import is_loopback


def start_console(mob: Mob, address: tuple[str, int]) -> Console:
    """Serve the console for ``mob`` and print where (the URL carries the run's token)."""
    host, port = address
    console = Console(mob, host, port).start()
    if not is_loopback(host):
        print(f"[web] WARNING: the console listens on {host}, not on loopback: anyone who can reach it and "
              "has the URL can talk to the mob", flush=True)
    print(f"[web] console: {console.url}", flush=True)
    return console


def serve_until_interrupted(console: Console, fatal: threading.Event) -> None:
    """Keep the mob and its console up until Ctrl-C, SIGTERM or a provider failure ends the run."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    print("[web] input done; the console keeps serving until Ctrl-C", flush=True)  # (SIGTERM handled from here)
    try:
        while not fatal.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGTERM, previous)
