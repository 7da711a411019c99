"""Every method upstream Meerkat's JSON-RPC router (v0.8.26) serves, and the ones mobkat declines on purpose.

``UPSTREAM_METHODS`` is the router's method list by family (``meerkat-rpc/src/router.rs``; 169 methods).
A method is *implemented* when mobkat's registry has it, *unsupported* when it is in ``UNSUPPORTED`` (the
server answers it with a typed -32020 naming the reason instead of -32601), and *not yet* otherwise.
docs/rpc.md carries the same table; ``tests/rpc/test_method_status.py`` keeps the three in step.
"""

from __future__ import annotations

from mobkat.errors import UnsupportedMethodError

UPSTREAM_METHODS: dict[str, tuple[str, ...]] = {
    "handshake": ("initialize", "capabilities/get"),
    "session": (
        "session/create", "session/read", "session/list", "session/history", "session/archive",
        "session/stream_open", "session/stream_close", "session/inject_context", "session/input_status",
        "session/external_event", "session/peer_response_terminal", "session/export_atif", "session/fork_at",
        "session/fork_replace", "session/rewrite_transcript", "session/update_system_prompt",
        "session/transcript_revision", "session/transcript_revisions", "session/restore_transcript_revision"),
    "turn": ("turn/start", "turn/interrupt"),
    "tools": ("tools/register",),
    "config": ("config/get", "config/set", "config/patch"),
    "models": ("models/catalog",),
    "live": ("live/open", "live/status", "live/send_input", "live/commit_input", "live/interrupt", "live/truncate",
             "live/refresh", "live/close", "live/webrtc/answer"),
    "mob core": (
        "mob/create", "mob/list", "mob/status", "mob/members", "mob/spawn", "mob/spawn_many", "mob/retire",
        "mob/respawn", "mob/wire", "mob/unwire", "mob/lifecycle", "mob/member_send", "mob/events",
        "mob/stream_open", "mob/stream_close", "mob/snapshot", "mob/destroy", "mob/member_status",
        "mob/force_cancel", "mob/wait_ready", "mob/wait_kickoff", "mob/ensure_member", "mob/reconcile",
        "mob/list_members_matching", "mob/wire_members_batch", "mob/append_system_context", "mob/turn_start",
        "mob/ingress_interaction", "mob/spawn_helper", "mob/fork_helper", "mob/member_history"),
    "mob flows": ("mob/flows", "mob/flow_run", "mob/run", "mob/flow_status", "mob/run_result", "mob/flow_cancel"),
    "mob work lane": ("mob/submit_work", "mob/cancel_work", "mob/cancel_all_work", "mob/conclude_objective"),
    "mob live": ("mob/member_live_open", "mob/member_live_close", "mob/member_live_status",
                 "mob/member_live_control"),
    "mob profiles": ("mob/profile/create", "mob/profile/get", "mob/profile/list", "mob/profile/update",
                     "mob/profile/delete"),
    "mob admin / multi-host": (
        "mob/rotate_supervisor", "mob/grant_scopes", "mob/revoke_scopes", "mob/grants", "mob/hosts",
        "mob/route_installs", "mob/bind_host", "mob/revoke_host", "mob/hard_cancel_member",
        "mob/member_tool_declaration", "mob/apply_member_tool_declaration",
        "mob/adopt_member_identity_declaration", "mob/resolve_identity_convergence_block"),
    "comms": ("comms/send", "comms/peers"),
    "events & blobs": ("events/latest_cursor", "events/list_since", "events/snapshot", "blob/get", "artifact/list",
                       "artifact/get", "artifact/download"),
    "jobs": ("jobs/get", "jobs/list", "jobs/cancel", "jobs/progress", "jobs/result", "jobs/artifacts", "jobs/retry",
             "jobs/health", "jobs/subscribe", "jobs/unsubscribe", "monitors/start", "mobkit/jobs/heartbeat",
             "mobkit/jobs/progress", "mobkit/jobs/checkpoint", "mobkit/jobs/complete", "mobkit/jobs/fail",
             "mobkit/jobs/cancel_ack"),
    "schedule": ("schedule/create", "schedule/get", "schedule/list", "schedule/update", "schedule/pause",
                 "schedule/resume", "schedule/delete", "schedule/occurrences", "schedule/tools", "schedule/call"),
    "workgraph": ("workgraph/get", "workgraph/list", "workgraph/ready", "workgraph/snapshot", "workgraph/events",
                  "workgraph/goal/status", "workgraph/attention/list"),
    "approval": ("approval/request", "approval/list", "approval/get", "approval/decide"),
    "auth & realm": ("auth/profile/list", "auth/profile/get", "auth/profile/create", "auth/profile/delete",
                     "auth/login/start", "auth/login/complete", "auth/login/device_start",
                     "auth/login/device_complete", "auth/login/provision_api_key", "auth/status/get", "auth/logout",
                     "realm/list", "realm/get"),
    "runtime": ("runtime/host_info", "runtime/capabilities", "runtime/health"),
    "skills, mcp, help": ("skills/list", "skills/inspect", "mcp/add", "mcp/remove", "mcp/reload", "help/ask"),
}
ALL_UPSTREAM: frozenset[str] = frozenset(m for methods in UPSTREAM_METHODS.values() for m in methods)

_NO_AUTH = ("mobkat keeps no credential store and no login flows: provider keys come from the environment "
            "(OPENAI_API_KEY) of the server process, never over RPC (docs/security.md)")
_NO_SKILLS = ("mobkat has no session skill runtime: skills are declared in mob definitions ([skills.<name>]) and "
              "inlined into the instructions of the profiles that name them (docs/mob-definition.md)")
_NO_MCP = ("mobkat has no MCP client: tools come from mob definitions (tools.python) and from the peer tools "
           "of mob members")
_NO_MOBKIT = "the mobkit worker protocol for detached callback jobs is not part of mobkat (it has no job runtime)"

UNSUPPORTED: dict[str, str] = {
    "live/webrtc/answer": "mobkat's live channels run over the --live-ws WebSocket only; it has no WebRTC transport",
    **{m: _NO_AUTH for m in UPSTREAM_METHODS["auth & realm"] if m.startswith("auth/")},
    "skills/list": _NO_SKILLS,
    "skills/inspect": _NO_SKILLS,
    "mcp/add": _NO_MCP,
    "mcp/remove": _NO_MCP,
    "mcp/reload": _NO_MCP,
    **{m: _NO_MOBKIT for m in UPSTREAM_METHODS["jobs"] if m.startswith("mobkit/")},
    "help/ask": ("mobkat bundles no help agent or help corpus to answer usage questions from; its documentation "
                 "is the docs/ directory"),
}
"""Upstream method → why mobkat declines it (answered with :class:`UnsupportedMethodError`, -32020)."""


def unsupported_error(method: str) -> UnsupportedMethodError | None:
    """The typed refusal for a method mobkat declines on purpose, else None."""
    reason = UNSUPPORTED.get(method)
    if reason is None:
        return None
    return UnsupportedMethodError(f"{method} is not supported by mobkat: {reason}",
                                  details={"method": method, "reason": reason})


def not_yet_hint(method: str) -> str:
    """Suffix of the -32601 message for an upstream method mobkat does not implement yet."""
    if method in ALL_UPSTREAM and method not in UNSUPPORTED:
        return " (an upstream Meerkat method mobkat does not implement yet; see docs/rpc.md, method status)"
    return ""


STATUS_BEGIN = "<!-- method-status:begin (generated by mobkat.rpc.upstream_methods.render_status_table) -->"
STATUS_END = "<!-- method-status:end -->"


def method_status(method: str, registered: frozenset[str] | set[str]) -> tuple[str, str]:
    """(status, note) of one upstream method given the registered method names."""
    if method in registered:
        note = "needs `--live-ws`" if method.startswith(("live/", "mob/member_live_")) else ""
        return "implemented", note
    if method in UNSUPPORTED:
        return "unsupported", UNSUPPORTED[method]
    return "not yet", ""


def render_status_table(registered: frozenset[str] | set[str]) -> str:
    """The docs/rpc.md block (markers included): every upstream method with mobkat's status."""
    counts = {"implemented": 0, "unsupported": 0, "not yet": 0}
    lines = ["| family | upstream method | mobkat | note |", "|---|---|---|---|"]
    for family, methods in UPSTREAM_METHODS.items():
        for method in methods:
            status, note = method_status(method, registered)
            counts[status] += 1
            lines.append(f"| {family} | `{method}` | {status} | {note} |")
    summary = (f"{len(ALL_UPSTREAM)} upstream methods: {counts['implemented']} implemented, "
               f"{counts['unsupported']} unsupported (a typed -32020 naming the reason), {counts['not yet']} not yet "
               "(-32601 saying so).")
    return "\n".join([STATUS_BEGIN, summary, "", *lines, STATUS_END])
