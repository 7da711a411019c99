"""Calling a Ray actor the way mobkat calls a pykka proxy: ``proxy.method(*args).get(timeout=...)``.

The mob's code asks its supervisor (and a member) through pykka proxies. On the Ray engine the supervisor
lives in the mob's head actor and a member in a member host, so :class:`RemoteProxy` turns the same call
into ``actor.call.remote(method, args)`` and :class:`RemoteFuture` waits for it. A typed mobkat error raised
over there is raised here as itself; anything else (the actor died, a timeout) is a :class:`MobError` naming
the method.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from mobkat.errors import MobError, MobkatError


def unwrap(exc: BaseException, what: str) -> BaseException:
    """The error to raise for a failed remote call: the mobkat error itself, else one naming ``what``."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, MobkatError):
        return cause
    if isinstance(exc, MobkatError):
        return exc
    if isinstance(cause, BaseException) and type(cause).__module__.startswith("mobkat"):
        return cause
    return MobError(f"{what} failed on the Ray cluster: {type(exc).__name__}: {exc}",
                    details={"call": what, "error": type(exc).__name__})


class RemoteFuture:
    """The pending result of one remote call."""

    __slots__ = ("_ref", "_what")

    def __init__(self, ref: Any, what: str) -> None:
        self._ref = ref
        self._what = what

    def get(self, timeout: float | None = None) -> Any:
        """Wait for the answer (from any thread: the ref's own future, so an async actor's loop is not involved)."""
        try:
            return self._ref.future().result(timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{self._what}: no answer from the Ray cluster within {timeout:g} s") from None
        except Exception as exc:
            raise unwrap(exc, self._what) from exc


class RemoteProxy:
    """``proxy.method(*args)`` → ``actor.<entry>.remote(*prefix, method, args)`` as a :class:`RemoteFuture`."""

    def __init__(self, actor: Any, entry: str = "call", prefix: tuple[Any, ...] = (), what: str = "") -> None:
        self._actor = actor
        self._entry = entry
        self._prefix = prefix
        self._what = what or entry

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        remote = getattr(self._actor, self._entry)

        def call(*args: Any) -> RemoteFuture:
            return RemoteFuture(remote.remote(*self._prefix, method, args), f"{self._what}.{method}")

        return call


__all__ = ["RemoteFuture", "RemoteProxy", "unwrap"]
