"""The backstop of a clean stop: once SIGTERM/SIGINT arrives, the server process is gone within a deadline.

A clean stop (listeners closed, connections ended, actors stopped, store closed) normally takes a
second or two. Something that does not end on request (a Python tool stuck in a blocking call, a
provider that never answers) must not keep a stopped server alive: past :data:`SHUTDOWN_DEADLINE_S`
the process says so on stderr and exits with status 1.
"""

from __future__ import annotations

import os
import sys
import threading

SHUTDOWN_DEADLINE_S = 10.0
RAY_SHUTDOWN_DEADLINE_S = 60.0
"""With ``--ray``: stopping mobs on the cluster (their hosts, their heads) and a ``local`` cluster's processes
takes Ray calls and process exits, which on a starved machine took more than 10 s."""


class ShutdownDeadline:
    """Arms once; exits the process if it is still running ``deadline_s`` later."""

    def __init__(self, deadline_s: float = SHUTDOWN_DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.deadline_s, self._expire)
            self._timer.daemon = True
            self._timer.start()

    def _expire(self) -> None:
        print(f"mobkat-rpc: the clean stop did not finish within {self.deadline_s:g} s (something is still "
              "running, e.g. a blocked tool); exiting now", file=sys.stderr, flush=True)
        os._exit(1)
