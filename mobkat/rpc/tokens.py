"""Live WebSocket tokens: single-use, bound to one channel, expiring if unused.

``live/open`` mints one token per channel; the WebSocket handshake redeems it. Any presentation
consumes the token (a wrong-channel attempt burns it too), so a token opens at most one socket.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

TOKEN_TTL_ENV = "MOBKAT_LIVE_TOKEN_TTL_S"
DEFAULT_TOKEN_TTL_S = 60.0
_REMEMBER_USED = 4096

G = TypeVar("G")


def token_ttl_from_env() -> float:
    """The token lifetime: ``$MOBKAT_LIVE_TOKEN_TTL_S`` (seconds, > 0) or 60 s."""
    raw = os.environ.get(TOKEN_TTL_ENV)
    if not raw:
        return DEFAULT_TOKEN_TTL_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TOKEN_TTL_ENV}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise ValueError(f"{TOKEN_TTL_ENV}={raw!r} must be greater than 0")
    return value


class TokenRejected(Exception):
    """Why a token does not open a socket: ``reason`` is a stable snake_case word."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class _Minted(Generic[G]):
    channel_id: str
    grant: G
    expires_at: float


class TokenBook(Generic[G]):
    """Mints and redeems tokens; ``grant`` is whatever the socket needs to serve the channel."""

    def __init__(self, ttl_s: float = DEFAULT_TOKEN_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._live: dict[str, _Minted[G]] = {}
        self._spent: OrderedDict[str, str] = OrderedDict()  # token → why it can no longer be used

    def mint(self, channel_id: str, grant: G) -> str:
        self._sweep()
        token = str(uuid.uuid4())
        self._live[token] = _Minted(channel_id, grant, self._clock() + self.ttl_s)
        return token

    def redeem(self, token: str | None, channel_id: str | None) -> G:
        """The grant for ``token`` on ``channel_id``; raises :class:`TokenRejected` otherwise."""
        if not token:
            raise TokenRejected("token_missing", "the live socket URL needs the token that live/open returned")
        minted = self._live.pop(token, None)
        if minted is None:
            spent = self._spent.get(token)
            if spent == "expired":
                raise TokenRejected("token_expired", self._expired_message())
            if spent is not None:
                raise TokenRejected("token_reused", "this live token was already used; tokens are single-use: "
                                    "call live/close and live/open for a new channel and token")
            raise TokenRejected("token_unknown", "unknown live token; use the URL that live/open returned")
        if minted.expires_at <= self._clock():
            self._spend(token, "expired")
            raise TokenRejected("token_expired", self._expired_message())
        self._spend(token, "used")
        if channel_id != minted.channel_id:
            raise TokenRejected("token_channel_mismatch",
                                f"this live token belongs to channel {minted.channel_id}, not {channel_id}")
        return minted.grant

    def revoke_channel(self, channel_id: str) -> None:
        """Forget unused tokens of a closed channel."""
        for token in [t for t, m in self._live.items() if m.channel_id == channel_id]:
            del self._live[token]
            self._spend(token, "used")

    def _expired_message(self) -> str:
        return (f"this live token expired: tokens must be used within {self.ttl_s:g} s of live/open; "
                "call live/close and live/open again")

    def _sweep(self) -> None:
        now = self._clock()
        for token in [t for t, m in self._live.items() if m.expires_at <= now]:
            del self._live[token]
            self._spend(token, "expired")

    def _spend(self, token: str, why: str) -> None:
        self._spent[token] = why
        while len(self._spent) > _REMEMBER_USED:
            self._spent.popitem(last=False)
