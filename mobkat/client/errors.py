"""Typed client errors, built from the server's ``error.data.kind`` (falling back to the JSON-RPC code)."""

from __future__ import annotations

from typing import Any


class MobkatClientError(Exception):
    """An RPC call failed. ``code`` is the server's string code (e.g. ``session_not_found``)."""

    def __init__(self, code: str, message: str, details: Any = None, rpc_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.rpc_code = rpc_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, rpc_code={self.rpc_code}, message={self.message!r})"


class ConnectionClosed(MobkatClientError):
    """The server went away (or the client was closed) before answering."""


class ProtocolError(MobkatClientError):
    """The server wrote something that is not a JSON-RPC message."""


class VersionMismatch(MobkatClientError):
    """The server speaks a contract version this client does not."""


class ParseError(MobkatClientError):
    pass


class InvalidRequest(MobkatClientError):
    pass


class MethodNotFound(MobkatClientError):
    pass


class InvalidParams(MobkatClientError):
    pass


class InternalError(MobkatClientError):
    pass


class SessionNotFound(MobkatClientError):
    pass


class SessionBusy(MobkatClientError):
    pass


class SessionArchived(MobkatClientError):
    pass


class ProviderFailed(MobkatClientError):
    pass


class LiveRejected(MobkatClientError):
    """A ``live/*`` request was refused (the JSON-RPC code is -32602 or -32603)."""


class ModelNotRealtime(LiveRejected):
    pass


class SessionIdle(LiveRejected):
    pass


class ChannelAlreadyBound(LiveRejected):
    pass


class ChannelNotFound(LiveRejected):
    pass


class ChannelNotReady(LiveRejected):
    pass


class LiveInputRejected(LiveRejected):
    """``details`` is the reason, e.g. ``{"kind": "audio_input_invalid_base64"}``."""

    @property
    def reason(self) -> dict[str, Any]:
        return self.details if isinstance(self.details, dict) else {}


class LiveSocketRejected(MobkatClientError):
    """The live WebSocket refused the connection or a frame (``code`` is the reason, e.g. ``token_reused``)."""

    def __init__(self, code: str, message: str, *, error: str, close_code: int | None = None) -> None:
        super().__init__(code, message, {"error": error})
        self.error = error
        self.close_code = close_code


class Unauthenticated(MobkatClientError):
    """The server requires its auth token (-32040): ``code`` is ``unauthenticated`` (none presented yet) or
    ``auth_failed`` (a wrong one; the server closed the connection). Pass ``MobkatClient(auth_token=...)``."""


class TooManyConnections(MobkatClientError):
    """The server already serves ``--max-connections`` TCP connections and closed this one (-32041)."""


class MobRejected(MobkatClientError):
    """A ``mob/*`` request was refused (``code`` names why, e.g. ``member_not_found``)."""


class MobNotFound(MobRejected):
    pass


class MobExists(MobRejected):
    pass


class MobNotRunning(MobRejected):
    """The mob is stopped: mutations are refused (``code`` is ``invalid_transition``); reads still work."""


class ProfileNotFound(MobRejected):
    pass


class MemberNotFound(MobRejected):
    pass


class MemberExists(MobRejected):
    pass


class MemberBroken(MobRejected):
    pass


class WiringRefused(MobRejected):
    pass


class NotExternallyAddressable(MobRejected):
    pass


class InboxFull(MobRejected):
    pass


class StaleCursor(MobRejected):
    """``mob/events`` with ``strict``: ``details`` has ``watermark`` (the latest cursor) and ``requested``."""


class StreamNotFound(MobRejected):
    pass


BY_CODE: dict[str, type[MobkatClientError]] = {
    "parse_error": ParseError,
    "invalid_request": InvalidRequest,
    "method_not_found": MethodNotFound,
    "invalid_params": InvalidParams,
    "internal_error": InternalError,
    "session_not_found": SessionNotFound,
    "session_busy": SessionBusy,
    "session_archived": SessionArchived,
    "provider_error": ProviderFailed,
    "missing_api_key": ProviderFailed,
    "live_error": LiveRejected,
    "model_not_realtime": ModelNotRealtime,
    "session_idle": SessionIdle,
    "live_channel_already_bound": ChannelAlreadyBound,
    "live_channel_not_found": ChannelNotFound,
    "live_channel_not_ready": ChannelNotReady,
    "live_provider_error": LiveRejected,
    "live_transport_not_configured": LiveRejected,
    "live_seed_window_too_small": LiveRejected,
    "config_rejected": LiveInputRejected,
    "mob_error": MobRejected,
    "mob_not_found": MobNotFound,
    "mob_already_exists": MobExists,
    "invalid_transition": MobNotRunning,
    "profile_not_found": ProfileNotFound,
    "member_not_found": MemberNotFound,
    "member_already_exists": MemberExists,
    "member_broken": MemberBroken,
    "wiring_error": WiringRefused,
    "not_externally_addressable": NotExternallyAddressable,
    "inbox_full": InboxFull,
    "stale_cursor": StaleCursor,
    "stream_not_found": StreamNotFound,
    "lifecycle_action_not_supported": MobRejected,
    "flow_not_found": MobRejected,
    "live_transport_unsupported": LiveRejected,
    "unauthenticated": Unauthenticated,
    "auth_failed": Unauthenticated,
    "too_many_connections": TooManyConnections,
}
BY_RPC_CODE: dict[int, type[MobkatClientError]] = {
    -32700: ParseError,
    -32600: InvalidRequest,
    -32601: MethodNotFound,
    -32602: InvalidParams,
    -32603: InternalError,
    -32001: SessionNotFound,
    -32002: SessionBusy,
    -32010: ProviderFailed,
    -32040: Unauthenticated,
    -32041: TooManyConnections,
}


def error_from_wire(error: Any) -> MobkatClientError:
    """The typed error for a JSON-RPC ``error`` object."""
    if not isinstance(error, dict):
        return ProtocolError("protocol_error", f"malformed error object: {error!r}")
    rpc_code = error.get("code") if isinstance(error.get("code"), int) else None
    message = str(error.get("message", "unknown error"))
    data = error.get("data")
    code, details = None, None
    if isinstance(data, dict):
        kind = data.get("kind", data.get("code"))  # ``kind`` since mobkat matched upstream's codes
        code = kind if isinstance(kind, str) else None
        details = data.get("details", data)
    cls = BY_CODE.get(code or "") or BY_RPC_CODE.get(rpc_code or 0) or MobkatClientError
    return cls(code or str(rpc_code), message, details, rpc_code)
