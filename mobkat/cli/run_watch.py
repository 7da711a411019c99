"""What ``mobkat run`` knows about providers: how each member's model is reached, and turn failures.

A provider failure (endpoint unreachable, DNS, a refused key, no key) ends the run early: the watch
names the member, the endpoint and the cause in one line, so the run can stop and print its summary.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from mobkat.errors import ConfigError, MissingApiKeyError
from mobkat.mob.events import MobEvent
from mobkat.mob.mob import Mob

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
PROBE_TIMEOUT_S = 3.0
PROVIDER_FAILURES = ("provider_error", "missing_api_key")
_AUTH_MARKERS = ("401", "AuthenticationError", "invalid_api_key", "Incorrect API key")
_FORBIDDEN_MARKERS = ("403", "PermissionDeniedError")


@dataclass(frozen=True)
class Reach:
    """How one member's model is reached."""

    member: str
    model: str
    provider: str
    url: str
    simulator: bool
    key_env: str | None
    key_missing: bool

    def line(self) -> str:
        if self.simulator:
            return f"[mob] {self.member}: model {self.model} via the simulator at {self.url}"
        key = (f"NO KEY: set {self.key_env}" if self.key_missing
               else f"key from {self.key_env}" if self.key_env else "no key needed")
        return f"[mob] {self.member}: model {self.model} ({self.provider}) at {self.url} ({key})"


def reach_of(mob: Mob) -> dict[str, Reach]:
    """Each member's model, endpoint and key, in spawn order (the mob must be started)."""
    definition = mob.definition
    resolver = mob.services.endpoints
    found: dict[str, Reach] = {}
    for spec in definition.members_to_spawn():
        name = spec.name
        model = definition.profile(spec.profile).model
        provider = definition.model_profile(spec.profile).provider
        if resolver.simulator_base_url is not None:
            found[name] = Reach(name, model, provider, resolver.simulator_base_url, True, None, False)
            continue
        try:
            settings = resolver.config.provider(provider)
        except ConfigError as exc:
            found[name] = Reach(name, model, provider, f"(no endpoint: {exc})", False, None, False)
            continue
        url = settings.base_url or (os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL
                                    if provider == "openai" else "(the SDK default)")
        missing = False
        try:
            resolver.resolve(provider)
        except MissingApiKeyError:
            missing = True
        found[name] = Reach(name, model, provider, url.rstrip("/"), False, settings.api_key_env, missing)
    return found


def probe(url: str) -> str | None:
    """Why ``url``'s host cannot be reached over TCP (DNS, refused, no answer), or None if it answers."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return f"{url!r} is not a URL with a host"
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r} (DNS: {exc.strerror})"
    family, kind, proto, _, address = addresses[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(PROBE_TIMEOUT_S)
            sock.connect(address)
    except ConnectionRefusedError:
        return f"connection refused (nothing listens on {host}:{port})"
    except TimeoutError:
        return f"no answer from {host}:{port} within {PROBE_TIMEOUT_S:g} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.strerror or exc})"
    return None


def cause_of(kind: str, error: str, url: str) -> str:
    """A short cause of a provider failure: the key, the network, or what the provider said."""
    if kind == "missing_api_key":
        return error
    if any(marker in error for marker in _AUTH_MARKERS):
        return "the endpoint refused the API key (401 unauthorized)"
    if any(marker in error for marker in _FORBIDDEN_MARKERS):
        return "the API key may not use this model (403 permission denied)"
    unreachable = probe(url)
    return unreachable if unreachable is not None else f"the call failed: {error}"


class FailureWatch:
    """Follows turn outcomes: members whose turns failed, and the first provider failure (fatal)."""

    def __init__(self, reach: dict[str, Reach]) -> None:
        self.reach = reach
        self.fatal = threading.Event()
        self.fatal_line = ""
        self._failed: dict[str, str] = {}
        self._dead: set[str] = set()
        self._lock = threading.Lock()

    def observe(self, event: MobEvent) -> None:
        member = event.get("member")
        if not isinstance(member, str):
            return
        with self._lock:
            if event.type == "turn_committed":
                self._failed.pop(member, None)
            elif event.type in ("turn_failed", "live_failed"):
                self._failed[member] = str(event.get("error"))
            elif event.type == "message_dead_lettered":
                self._dead.add(member)
        if event.type == "turn_failed" and event.get("kind") in PROVIDER_FAILURES and not self.fatal.is_set():
            self._set_fatal(member, str(event.get("kind")), str(event.get("error")))

    def _set_fatal(self, member: str, kind: str, error: str) -> None:
        reach = self.reach.get(member)
        if reach is None:
            self.fatal_line = f"{member}: {error}"
        else:
            where = "the simulator" if reach.simulator else reach.provider
            self.fatal_line = (f"{member}: model {reach.model} at {reach.url} ({where}): "
                               f"{cause_of(kind, error, reach.url)}")
        self.fatal.set()

    def failed_members(self) -> list[str]:
        """Members whose last turn failed or who lost a message, sorted."""
        with self._lock:
            return sorted({*self._failed, *self._dead})
