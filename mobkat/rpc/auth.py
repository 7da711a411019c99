"""The shared-secret token of ``mobkat rpc --auth-token-file FILE`` (see docs/security.md).

- **JSON-RPC over TCP**: a connection starts unauthenticated. Its first request must be
  ``initialize {"auth_token": "<secret>"}``; until then every request is answered with -32040
  ``unauthenticated``. A wrong token is answered with -32040 ``auth_failed`` and the connection is
  closed; a connection that has not authenticated within :data:`AUTH_TIMEOUT_S` is closed too.
  ``auth_token`` is taken out of ``initialize``'s params (handlers never see it) and is ignored by a
  server without a token, and on stdio (whoever spawned the server owns its pipes).
- **Live WebSocket**: the upgrade request carries ``Authorization: Bearer <secret>`` (or, for
  clients that cannot set headers, ``auth_token=<secret>`` in the query); otherwise HTTP 401,
  before the channel's single-use token is looked at (so it is not spent).

Tokens are compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hmac
from typing import Any

from mobkat.errors import UNAUTHENTICATED
from mobkat.net import is_loopback
from mobkat.rpc.protocol import RpcError

AUTH_PARAM = "auth_token"
AUTH_TIMEOUT_S = 10.0
"""A TCP connection must authenticate within this many seconds of connecting."""
AUTH_METHOD = "initialize"


def token_matches(expected: str, presented: object) -> bool:
    """Constant-time comparison of the configured secret with what a client presented."""
    if not isinstance(presented, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), presented.encode("utf-8", "surrogatepass"))


def unauthenticated(method: str) -> RpcError:
    return RpcError(UNAUTHENTICATED, f"{method}: this server requires authentication: send "
                    f'{AUTH_METHOD} {{"{AUTH_PARAM}": "<secret>"}} first (the secret is in the server\'s '
                    "--auth-token-file)", kind="unauthenticated", details={"method": method})


def auth_failed() -> RpcError:
    return RpcError(UNAUTHENTICATED, f"{AUTH_METHOD}: wrong {AUTH_PARAM}; the connection is closed",
                    kind="auth_failed")


def auth_timed_out(timeout_s: float) -> RpcError:
    return RpcError(UNAUTHENTICATED, f"no {AUTH_METHOD} with a valid {AUTH_PARAM} within {timeout_s:g} s; "
                    "the connection is closed", kind="unauthenticated", details={"timeout_s": timeout_s})


class ConnectionAuth:
    """Whether one JSON-RPC connection may call methods yet (``token`` None: no authentication)."""

    def __init__(self, token: str | None) -> None:
        self._token = token
        self.authenticated = token is None
        self.failed = False

    def admit(self, method: str, params: dict[str, Any] | None) -> RpcError | None:
        """None if the request may run; takes ``auth_token`` out of ``initialize``'s params either way.

        A wrong token leaves :attr:`failed` set: answer, then close the connection.
        """
        presented = params.pop(AUTH_PARAM, None) if method == AUTH_METHOD and params is not None else None
        if self.authenticated:
            return None
        assert self._token is not None
        if method != AUTH_METHOD or presented is None:
            return unauthenticated(method)
        if not token_matches(self._token, presented):
            self.failed = True
            return auth_failed()
        self.authenticated = True
        return None


def bearer_token(headers: Any, query: dict[str, list[str]]) -> str | None:
    """The secret a live WebSocket upgrade presents: ``Authorization: Bearer`` first, else ``?auth_token=``."""
    header = headers.get("Authorization") if headers is not None else None
    if isinstance(header, str):
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    values = query.get(AUTH_PARAM)
    return values[0] if values else None


def remote_notice(flag: str, address: tuple[str, int], authenticated: bool) -> str | None:
    """The stderr line for a listener bound beyond loopback (None for loopback)."""
    host, port = address
    if is_loopback(host):
        return None
    where = f"{flag} {host}:{port}"
    if authenticated:
        return (f"mobkat-rpc: {where} is reachable from other hosts; it is protected by the token in "
                "--auth-token-file (traffic is not encrypted: put TLS in front of it)")
    return (f"mobkat-rpc: WARNING: {where} is reachable from other hosts and is NOT authenticated: anyone who "
            "can connect can run turns, read sessions and open live channels. Pass --auth-token-file FILE")
