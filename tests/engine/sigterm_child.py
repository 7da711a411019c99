"""A process that joins a local Ray cluster, gets SIGTERM, and takes 4.5 s to stop cleanly (more than the 3 s
abort timer Ray's failure-signal handler arms). ``main``: Ray joined on the main thread, whose SIGTERM handler
``connect`` wraps (``mobkat run --ray``); ``thread``: joined on another thread, with the process's own handler
on the main thread (``mobkat rpc --ray``). Exits 0 after a clean stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from mobkat.engine.ray_cluster import RayTarget, cancel_abort_timer, connect, disconnect

SLOW_STOP_S = 4.5


def main(where: str) -> int:
    stopping = threading.Event()
    if where == "thread":
        def on_signal(_signum: int, _frame: Any) -> None:
            cancel_abort_timer()
            stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        joining = threading.Thread(target=connect, args=(RayTarget("local"),), kwargs={"num_cpus": 1})
        joining.start()
        joining.join()
    else:
        connect(RayTarget("local"), num_cpus=1)
    print("joined", flush=True)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        if not stopping.wait(30):
            return 3
    except SystemExit:  # Ray's handler on the main thread: sys.exit
        pass
    threading.Event().wait(SLOW_STOP_S)  # a slow clean stop
    disconnect()
    print("stopped cleanly", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
