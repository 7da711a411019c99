"""``mobkat rpc --tcp`` processes forked from a parent that has already imported the server.

A server process started with ``python -m mobkat rpc`` spends ~1.5 s importing (the ``openai`` SDK
alone ~1 s). The state machine kills and restarts servers hundreds of times, so it starts them from
a ``multiprocessing`` fork server that preloads those modules: each server is still a process of its
own, running ``mobkat rpc`` from ``main()`` on, and ``kill -9`` kills exactly it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection

from tests.rpc.helpers import StderrLines, server_env

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mobkat.cli.main", "mobkat.cli.rpc", "mobkat.rpc.host", "mobkat.simulator",
                                 "mobkat.mob", "mobkat.runtime"])


def _serve(argv: list[str], stderr: Connection, env: dict[str, str]) -> None:
    """The child: stderr into the pipe, the server's environment, then ``mobkat rpc``'s own ``main``."""
    os.dup2(stderr.fileno(), 2)
    os.environ.clear()
    os.environ.update(env)
    from mobkat.cli.main import main

    raise SystemExit(main(argv))


class ForkedServer:
    """A ``mobkat rpc --tcp 127.0.0.1:0 FLAGS`` process; knows its address from the start-up line."""

    def __init__(self, flags: Sequence[str], env: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        reader, writer = _CONTEXT.Pipe(duplex=False)
        self.process = _CONTEXT.Process(target=_serve, daemon=True, args=(
            ["rpc", "--tcp", "127.0.0.1:0", *flags], writer, env or server_env()))
        self.process.start()
        writer.close()
        self.stderr = StderrLines(os.fdopen(os.dup(reader.fileno()), "rb"))  # the pump thread reads it to the end
        reader.close()
        self.address = self.stderr.wait_for(r"listening on tcp://(\S+) ", timeout)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def kill9(self) -> int | None:
        """SIGKILL and reap; returns the exit code (``-9``)."""
        os.kill(self.pid, signal.SIGKILL)
        self.process.join(10)
        return self.process.exitcode

    def alive(self) -> bool:
        return self.process.is_alive()
