"""JSON-RPC 2.0 on the wire: envelopes, the error object, exception → error mapping, line framing.

This is the one place where exceptions become JSON-RPC errors. ``error.data`` always carries a
string ``kind`` and ``details`` so clients can raise typed errors (the message is for humans). It never
carries a string ``data.code``: upstream's SDK would take that for the error's code, while upstream
sends ordinary errors without one, so its users match the numeric code (``MeerkatError.code == "-32001"``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from mobkat.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    MobkatError,
    ProviderError,
    SessionNotFoundError,
)

log = logging.getLogger(__name__)

JSONRPC = "2.0"
MAX_LINE_BYTES = 8 * 1024 * 1024
"""Default longest request line (excluding the newline); longer lines are answered and skipped unbuffered.

The biggest legitimate requests are ``live/send_input`` audio (at most 2 MiB of pcm16, about 2.8 MB
of base64) and inline ``mob/create`` definitions or long prompts; 8 MiB leaves room for all of them.
Bulk audio goes over the live WebSocket, not this channel. ``mobkat rpc --max-line-bytes`` changes it.
"""
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest response line written; a bigger result is replaced by an internal error."""

RequestId = StrictInt | StrictStr | None
ErrorStyle = Literal["standard", "live"]
"""``live``: the ``live/*`` family answers only -32602/-32603 (unknown session is -32602)."""


class RpcRequest(BaseModel):
    """A request (with ``id``) or a client notification (without)."""

    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"]
    method: str = Field(min_length=1)
    id: RequestId = None
    params: dict[str, Any] | None = None

    @property
    def is_notification(self) -> bool:
        return "id" not in self.model_fields_set


class ErrorObject(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: int
    message: str
    data: dict[str, Any] | None = None


class RpcResponse(BaseModel):
    """``result`` xor ``error``; serialize with :meth:`to_line`."""

    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"] = "2.0"
    id: RequestId
    result: Any = None
    error: ErrorObject | None = None

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"jsonrpc": JSONRPC, "id": self.id}
        if self.error is not None:
            body["error"] = self.error.model_dump(exclude_none=True)
        else:
            body["result"] = self.result
        return body


class RpcNotification(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jsonrpc: Literal["2.0"] = "2.0"
    method: str
    params: dict[str, Any]


def encode_line(message: dict[str, Any]) -> bytes:
    """One JSON object on one line (``\\n``-terminated, no embedded newlines)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class RpcError(Exception):
    """An error ready for the wire."""

    def __init__(self, code: int, message: str, *, kind: str, details: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = {"kind": kind, "details": details or {}, **(extra or {})}

    def to_object(self) -> ErrorObject:
        return ErrorObject(code=self.code, message=self.message, data=self.data)


def parse_error(problem: str) -> RpcError:
    return RpcError(PARSE_ERROR, f"parse error: {problem}", kind="parse_error")


def invalid_request(problem: str, **details: Any) -> RpcError:
    return RpcError(INVALID_REQUEST, f"invalid request: {problem}", kind="invalid_request", details=details)


def method_not_found(method: str, hint: str = "") -> RpcError:
    return RpcError(METHOD_NOT_FOUND, f"method not found: {method}{hint}", kind="method_not_found",
                    details={"method": method})


def invalid_params(method: str, exc: ValidationError) -> RpcError:
    """-32602 naming every bad field of ``method``'s params."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "params"
        problems.append({"field": where, "problem": err["msg"].removeprefix("Value error, ")})
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return RpcError(INVALID_PARAMS, f"invalid params for {method}: {text}", kind="invalid_params",
                    details={"method": method, "errors": problems})


def internal_error(message: str) -> RpcError:
    return RpcError(INTERNAL_ERROR, message, kind="internal_error")


def error_from_exception(exc: BaseException, *, method: str, style: ErrorStyle = "standard") -> RpcError:
    """Map anything a handler raised to its JSON-RPC error (the single mapping table)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, ValidationError):
        return invalid_params(method, exc)
    if isinstance(exc, MobkatError):
        return _from_mobkat(exc, style)
    if isinstance(exc, TimeoutError):
        return internal_error(f"{method} timed out: {exc or 'no answer in time'}")
    log.error("%s failed unexpectedly", method, exc_info=exc)
    return internal_error(f"{method} failed: {type(exc).__name__}: {exc}")


def _from_mobkat(exc: MobkatError, style: ErrorStyle) -> RpcError:
    data = exc.to_data()
    extra = {k: v for k, v in data.items() if k not in ("code", "details")}
    code, message = exc.rpc_code, exc.message
    if style == "live":
        if isinstance(exc, SessionNotFoundError):
            session_id = exc.details.get("session_id", "?")
            code, message = INVALID_PARAMS, f"session {session_id} not found"
        elif isinstance(exc, ProviderError):
            code, message = INTERNAL_ERROR, f"failed to open provider session: {exc.message}"
        elif code not in (INVALID_PARAMS, INTERNAL_ERROR):
            code = INTERNAL_ERROR
    return RpcError(code, message, kind=exc.code, details=exc.details, extra=extra)


# -- line framing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OversizedLine:
    """Stands for a line longer than the limit; its bytes were discarded, not buffered."""

    size: int


class LineFramer:
    """Splits a byte stream into ``\\n``-terminated lines, holding at most ``limit`` bytes of one line."""

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._dropped: int | None = None

    def feed(self, data: bytes) -> list[bytes | OversizedLine]:
        out: list[bytes | OversizedLine] = []
        start = 0
        while True:
            newline = data.find(b"\n", start)
            if newline < 0:
                self._append(data[start:])
                return out
            self._append(data[start:newline])
            out.append(self._take())
            start = newline + 1

    def finish(self) -> list[bytes | OversizedLine]:
        """At end of stream: the unterminated last line, if any."""
        if self._dropped is None and not self._buf:
            return []
        return [self._take()]

    def _append(self, piece: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(piece)
        elif len(self._buf) + len(piece) > self.limit:
            self._dropped = len(self._buf) + len(piece)
            self._buf = bytearray()
        else:
            self._buf += piece

    def _take(self) -> bytes | OversizedLine:
        if self._dropped is not None:
            size, self._dropped = self._dropped, None
            return OversizedLine(size)
        line = bytes(self._buf)
        self._buf.clear()
        return line
