"""Joining (or starting) a Ray cluster safely: loopback by default, no address probe, token auth kept on.

Ray 2.60 guesses a node's address by opening a UDP socket towards 8.8.8.8, and rewrites a loopback
``ray.init`` address into that guess; on a machine whose outside address is not reachable (a container, a
sandbox) the driver then waits for a GCS that is not there. For a local cluster (``local``) or a loopback
address mobkat keeps everything on 127.0.0.1: it sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray then takes
the loopback address as the node's address and probes nothing) before Ray is imported, and passes
``_node_ip_address``. Token authentication, on by default in Ray 2.60, is left as Ray sets it.

Ray also answers SIGTERM first with abseil's failure-signal handler, which arms a 3-second ``SIGALRM`` that
aborts the process (ray-project/ray#64830): a clean stop of a mob on Ray that takes longer (a busy machine)
ended in SIGABRT. Whoever handles SIGTERM in a process that joined Ray cancels that alarm first
(:func:`cancel_abort_timer`); after a ``ray.init`` on the main thread, :func:`connect` wraps Ray's own handler
so.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import signal
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from mobkat.errors import InvalidInputError, MobError

log = logging.getLogger(__name__)
NAMESPACE = "mobkat"
"""The Ray namespace of mobkat's named actors (``mobkat-head:<mob>``, ``mobkat-host:<mob>:<node>``)."""
LOOPBACK = "127.0.0.1"
HEAD_ADDRESS = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9a-fA-F:]+\]):\d{1,5}")
"""``HOST:PORT`` of a Ray head's GCS (``ray start --head`` prints it); Ray Client (``ray://``) is not supported."""
NEEDS_EXTRA = "the Ray engine needs Ray: pip install 'mobkat[ray]'"
_lock = threading.Lock()
_started_here = False
_users = 0  # mobs of this process using the connection (connect/disconnect pairs)


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return host in ("127.0.0.1", "localhost", "::1", "[::1]")


def import_ray(address: str = "local") -> ModuleType:
    """``ray``, imported with the loopback setting when ``address`` is ``local`` or a loopback address."""
    if address == "local" or is_loopback(address):
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise MobError(NEEDS_EXTRA, details={"problem": "missing_extra"}) from None


@dataclass(frozen=True)
class RayTarget:
    """Which cluster: ``local`` (a new one-node cluster in this process's lifetime) or ``HOST:PORT`` of a head."""

    address: str = "local"

    def __post_init__(self) -> None:
        if self.address != "local" and not HEAD_ADDRESS.fullmatch(self.address):
            raise InvalidInputError(f"--ray takes 'local' or HOST:PORT of a Ray head (got {self.address!r})",
                                    details={"address": self.address})


def connect(target: RayTarget, *, num_cpus: int | None = None) -> ModuleType:
    """Connect this process to the cluster (or count one more user of the connection it has); returns ``ray``.
    Each call is paired with one :func:`disconnect`."""
    global _started_here, _users
    ray = import_ray(target.address)
    with _lock:
        _users += 1
        if ray.is_initialized():
            return ray
        kwargs: dict[str, Any] = {"namespace": NAMESPACE, "logging_level": logging.WARNING,
                                  "log_to_driver": True}
        if target.address == "local":
            kwargs.update(address="local", include_dashboard=False, _node_ip_address=LOOPBACK)
            if num_cpus is not None:
                kwargs["num_cpus"] = num_cpus
        else:
            kwargs["address"] = target.address
            if is_loopback(target.address):
                kwargs["_node_ip_address"] = LOOPBACK
        # Ray says at every start that token authentication is on; mobkat keeps it on and says so once, in its
        # own words (docs/distributed.md), so the run's output stays the mob's.
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        try:
            ray.init(**kwargs)
        except BaseException:
            _users -= 1
            raise
        _started_here = target.address == "local"
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _abort_timer_cancelled(signal.getsignal(signal.SIGTERM)))
        log.info("joined Ray cluster at %s", target.address)
        return ray


def cancel_abort_timer() -> None:
    """Cancel the abort that Ray's failure-signal handler set up on SIGTERM (a pending ``alarm``): call it first
    in a SIGTERM handler of a process that may have joined Ray, so that a clean stop may take longer than 3 s.
    mobkat sets no alarm of its own (deadlines are timers)."""
    signal.alarm(0)


def _abort_timer_cancelled(handler: Any) -> Any:
    """``handler`` (Ray's: ``sys.exit``), preceded by :func:`cancel_abort_timer`."""
    def on_sigterm(signum: int, frame: Any) -> None:
        cancel_abort_timer()
        if callable(handler):
            handler(signum, frame)
        elif handler != signal.SIG_IGN:  # the default action, as before
            raise SystemExit(128 + signum)

    return on_sigterm


def disconnect() -> None:
    """One user fewer; the last one leaves a cluster :func:`connect` started (a ``local`` cluster stops with it).
    A connection this process had before (``ray.init`` of its own, a test's cluster) is left as it is."""
    global _started_here, _users
    ray = importlib.import_module("ray")
    with _lock:
        _users = max(_users - 1, 0)
        if _users == 0 and _started_here and ray.is_initialized():
            ray.shutdown()
            _started_here = False


__all__ = ["LOOPBACK", "NAMESPACE", "RayTarget", "cancel_abort_timer", "connect", "disconnect", "import_ray",
           "is_loopback"]
