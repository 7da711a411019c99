"""Typed errors. Each carries a JSON-RPC code, a string ``code`` and a message a user can act on."""

from __future__ import annotations

from typing import Any

# JSON-RPC 2.0 standard codes and the Meerkat-compatible application codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SESSION_NOT_FOUND = -32001
SESSION_BUSY = -32002
SESSION_NOT_RUNNING = -32003
PROVIDER_ERROR = -32010
CAPABILITY_UNAVAILABLE = -32020


class MobkatError(Exception):
    """Base of every mobkat error: ``code`` is a stable string, ``rpc_code`` the JSON-RPC code."""

    code: str = "internal_error"
    rpc_code: int = INTERNAL_ERROR

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_data(self) -> dict[str, Any]:
        """The ``error.data`` projection used on the JSON-RPC wire."""
        return {"code": self.code, "details": self.details}


class ConfigError(MobkatError):
    """A configuration or definition file is invalid; the message names file, line and dotted key."""

    code = "config_invalid"
    rpc_code = INVALID_PARAMS

    def __init__(self, file: str, line: int | None, key: str, problem: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        prefix = f"{where}: {key}: " if key else f"{where}: "
        super().__init__(prefix + problem, details={"file": file, "line": line, "key": key})
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem


class UnknownModelError(MobkatError):
    """A model id is not in the catalog and no provider was given to place it."""

    code = "unknown_model"
    rpc_code = INVALID_PARAMS


class ProviderError(MobkatError):
    """The model provider failed or could not be reached."""

    code = "provider_error"
    rpc_code = PROVIDER_ERROR


class MissingApiKeyError(ProviderError):
    """The environment variable holding a provider's API key is not set."""

    code = "missing_api_key"


class SessionNotFoundError(MobkatError):
    code = "session_not_found"
    rpc_code = SESSION_NOT_FOUND


class SessionBusyError(MobkatError):
    code = "session_busy"
    rpc_code = SESSION_BUSY


class StoreError(MobkatError):
    """The session store could not read or write."""

    code = "store_error"


class ToolError(MobkatError):
    """A registered tool is invalid or failed in a way that is not a tool result."""

    code = "tool_error"
    rpc_code = INVALID_PARAMS


class InvalidInputError(MobkatError):
    """A request carried an invalid argument."""

    code = "invalid_params"
    rpc_code = INVALID_PARAMS


# -- live channels ------------------------------------------------------------------------------
class LiveError(MobkatError):
    """A live-channel request was refused; the message names the session/channel and the remedy."""

    code = "live_error"
    rpc_code = INVALID_PARAMS


class ModelNotRealtimeError(LiveError):
    code = "model_not_realtime"


class SessionIdleError(LiveError):
    code = "session_idle"


class ChannelAlreadyBoundError(LiveError):
    code = "live_channel_already_bound"


class ChannelNotFoundError(LiveError):
    code = "live_channel_not_found"


class LiveInputRejectedError(LiveError):
    """``send_input``/``refresh`` input rejected; ``details`` carries ``{"kind": <reason>, ...}``."""

    code = "config_rejected"

    def __init__(self, message: str, *, reason: dict[str, Any]) -> None:
        super().__init__(message, details=reason)
        self.reason = reason

    def to_data(self) -> dict[str, Any]:
        return {"code": self.code, "details": self.details,
                "error_code": {"code": "config_rejected", "reason": self.reason}}


class ChannelNotReadyError(LiveError):
    """The channel exists but cannot take the command in its current state."""

    code = "live_channel_not_ready"
    rpc_code = INTERNAL_ERROR


class LiveProviderError(LiveError):
    """The provider connection for a live channel failed."""

    code = "live_provider_error"
    rpc_code = INTERNAL_ERROR


# -- mobs -----------------------------------------------------------------------------------------
class MobError(MobkatError):
    """A mob operation was refused; the message names the member and the remedy."""

    code = "mob_error"
    rpc_code = INVALID_PARAMS


class MemberNotFoundError(MobError):
    code = "member_not_found"


class MemberExistsError(MobError):
    code = "member_already_exists"


class MemberBrokenError(MobError):
    code = "member_broken"


class WiringError(MobError):
    code = "wiring_error"


class InboxFullError(MobError):
    code = "inbox_full"
    rpc_code = SESSION_BUSY


class NotExternallyAddressableError(MobError):
    code = "not_externally_addressable"


class SessionArchivedError(MobkatError):
    """The session was archived: its history stays readable, but it no longer runs."""

    code = "session_archived"
    rpc_code = INVALID_PARAMS


# -- mobs over JSON-RPC (mob/*) --------------------------------------------------------------------
STALE_CURSOR = -32027


class MobNotFoundError(MobError):
    """No mob with that id in this realm (never created, or destroyed)."""

    code = "mob_not_found"


class MobExistsError(MobError):
    """A mob with that id already exists in this realm."""

    code = "mob_already_exists"


class MobNotRunningError(MobError):
    """A mutation was sent to a stopped mob (reads still work)."""

    code = "invalid_transition"


class ProfileNotFoundError(MobError):
    code = "profile_not_found"


class StaleCursorError(MobError):
    """``mob/events`` with ``strict``: the cursor is beyond the latest event (or older than the oldest kept)."""

    code = "stale_cursor"
    rpc_code = STALE_CURSOR


class StreamNotFoundError(MobError):
    code = "stream_not_found"


# -- state roots, stores and partial failure (docs/security.md) -------------------------------------
class RealmLockedError(MobkatError):
    """Another live server already serves this state root and realm (it holds the realm's lock file)."""

    code = "realm_locked"


class CorruptRecordError(StoreError):
    """One stored record (a session's metadata or one history row) cannot be decoded; it is left as it is.

    ``details`` names ``session_id``, ``where`` (file and key) and, for a history row, ``row_index``.
    """

    code = "store_corrupt"


class ResourceExhaustedError(MobkatError):
    """The process ran out of an OS resource (threads, memory, file descriptors) while doing one thing."""

    code = "resource_exhausted"


# -- definitions are data (docs/security.md) ------------------------------------------------------------
class PythonToolNotAllowedError(ConfigError):
    """A definition sent over JSON-RPC names a ``tools.python`` function the operator did not allow
    (``mobkat rpc --allow-python-tools``); nothing was imported. JSON-RPC -32602."""

    code = "python_tool_not_allowed"


class DefinitionFileRefusedError(ConfigError):
    """A definition names a file it may not read: outside the allowed root (the same message whether it
    exists or not), not a regular file, or larger than the cap. JSON-RPC -32602."""

    code = "definition_file_refused"


UNAUTHENTICATED = -32040
"""JSON-RPC code of a request on a connection that has not presented the server's auth token."""
TOO_MANY_CONNECTIONS = -32041
"""JSON-RPC code of the one line a TCP connection beyond ``--max-connections`` gets before it is closed."""


# -- turn/interrupt ---------------------------------------------------------------------------------------
REQUEST_CANCELLED = -32005
"""JSON-RPC code of a request whose work was cancelled (upstream: an interrupted ``turn/start``)."""


class TurnInterruptedError(MobkatError):
    """The turn was cancelled by ``turn/interrupt`` before it committed; nothing of it was kept.
    JSON-RPC -32005 ``request cancelled`` (upstream's answer to the interrupted ``turn/start``)."""

    code = "request_cancelled"
    rpc_code = REQUEST_CANCELLED


class TurnNotInterruptibleError(MobkatError):
    """The session runs a turn ``turn/interrupt`` cannot cancel (a live-channel turn, or a mob member's
    own inbox turn). JSON-RPC -32600, as upstream answers a runtime that is not interruptible."""

    code = "not_interruptible"
    rpc_code = INVALID_REQUEST


class FlowNotFoundError(MobError):
    """A flow id the mob's definition does not declare (``-32602 "flow not found: x"`` upstream)."""

    code = "flow_not_found"


# -- upstream methods mobkat does not offer (issue #14) ------------------------------------------------
class UnsupportedMethodError(MobkatError):
    """An upstream Meerkat method mobkat deliberately does not offer; the message says why.
    JSON-RPC -32020 (capability unavailable), ``details`` = ``{method, reason}``."""

    code = "unsupported_method"
    rpc_code = CAPABILITY_UNAVAILABLE


# -- mob lifecycle (issue #15) ---------------------------------------------------------------------------
class InvalidTransitionError(MobNotRunningError):
    """A lifecycle action the mob's current state does not allow (``-32602 "invalid state transition: Completed ->
    Running"`` upstream). ``details`` = ``{mob_id, state, action, allowed_from}``."""

    code = "invalid_transition"


# -- real speech in the simulator (issue #12) ----------------------------------------------------------------
class SpeechModelError(MobkatError):
    """A speech model (``mobkat[speech]``) is missing, is not the pinned file (size or SHA-256), or cannot run.
    ``details`` = ``{file}`` when a file is to blame."""

    code = "speech_model_invalid"


# -- callback tools and config writes (issue #14) --------------------------------------------------------
class ClientGoneError(MobkatError):
    """A server→client request (a callback tool's ``tool/execute``) cannot be answered: the client that must
    answer it disconnected. A callback tool turns it into an error result; the turn goes on."""

    code = "client_disconnected"
    rpc_code = INTERNAL_ERROR


class CallbackToolError(MobkatError):
    """The client answered a ``tool/execute`` request with a JSON-RPC error (the message is the client's)."""

    code = "callback_tool_failed"
    rpc_code = INTERNAL_ERROR


class ConfigConflictError(MobkatError):
    """``config/set|patch`` with a stale ``expected_generation`` (upstream: -32602 ``Generation conflict: expected
    N, current M``). ``details`` = ``{expected, current}``."""

    code = "config_generation_conflict"
    rpc_code = INVALID_PARAMS


# -- member calls, member-side mob tools, bounded inbox wait (issue #15, part C) -------------------------
class MemberWaitTimedOutError(MobError):
    """``mob/wait_ready`` / ``mob/wait_kickoff`` ran out of time (upstream: -32602 ``member ready wait timed out`` /
    ``kickoff wait timed out``). ``details`` = ``{mob_id, waiting_for, timeout_ms}``."""

    code = "wait_timed_out"


class NotTurnDrivenError(MobError):
    """``mob/turn_start`` on a member that is not ``turn_driven`` (it runs its own turns from its inbox)."""

    code = "not_turn_driven"


class SystemContextConflictError(MobError):
    """``mob/append_system_context`` reused an ``idempotency_key`` with another text or source."""

    code = "idempotency_conflict"


class NoReplyCapabilityError(MobError):
    """``reply_to_peer`` outside a turn opened by a peer message or request: there is nobody to reply to."""

    code = "no_reply_capability"


class AmbiguousReplyError(MobError):
    """``reply_to_peer`` without ``reply_to`` in a turn opened by messages from several peers."""

    code = "ambiguous_reply"


class UnknownReplyToError(MobError):
    """``reply_to_peer(reply_to=...)`` naming no message (id or sender) of the current turn."""

    code = "unknown_reply_to"


class MobToolLimitError(MobError):
    """A member's mob tool (``tools.mob``) asked for more than its profile allows: a profile outside
    ``tools.mob_limits.profiles``, more than ``max_spawned`` live members, or retiring itself."""

    code = "mob_tool_limit"


# -- flow-run bounds (docs/security.md, docs/flows.md) -----------------------------------------------------
class FlowRunLimitError(MobError):
    """``run_flow`` (``mob/flow_run``, ``mob/run``) on a mob that already has its limit of active flow runs
    (``mobkat.mob.flow_engine.MAX_ACTIVE_FLOW_RUNS``, 16 by default); nothing was started or stored and the active
    runs go on. JSON-RPC -32002, as a full inbox. ``details`` = ``{mob_id, limit, active}``."""

    code = "flow_run_limit"
    rpc_code = SESSION_BUSY
