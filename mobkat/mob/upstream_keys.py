"""Upstream (Meerkat) definition keys that mobkat deliberately does not implement: they load with a
warning naming ``file:line: key``, so that upstream definition files load; every other unknown key stays
a strict error. The keys are taken out of the document before it is validated."""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Any

from mobkat.toml_source import KeyPath, TomlDocument, format_key

ANY = "*"
"""A path component matching every name (a profile, a flow, a step)."""

UPSTREAM_ONLY: dict[tuple[str, ...], str] = {
    ("topology",): "role-to-role policy for flow dispatch",
    ("supervisor",): "flow failure escalation",
    ("spawn_policy",): "auto-spawn of unknown identities",
    ("event_router",): "mob-wide agent-event filter",
    ("backend",): "external/remote members",
    ("models",): "custom models (declare them in .mobkat/config.toml instead)",
    ("image_generation_provider",): "image generation",
    ("owner_bridge_session_id",): "legacy key (ignored upstream too)",
    ("session_cleanup_policy",): "legacy key (ignored upstream too)",
    ("is_implicit",): "legacy key (ignored upstream too)",
    ("limits", "max_orphaned_turns"): "orphan-turn budget",
    ("limits", "cancel_grace_timeout_ms"): "cooperative cancel grace",
    ("limits", "max_active_nodes"): "frame concurrency cap",
    ("limits", "max_active_frames"): "frame concurrency cap",
    ("limits", "max_frame_depth"): "frame nesting cap",
    ("profiles", ANY, "max_inline_peer_notifications"): "inline peer lifecycle notices threshold",
    ("profiles", ANY, "provider_params"): "provider-specific parameters",
    ("profiles", ANY, "auto_compact_threshold"): "history compaction",
    ("profiles", ANY, "resume_overrides"): "resume metadata overrides",
    ("profiles", ANY, "image_generation_provider"): "image generation",
    ("profiles", ANY, "self_hosted_server_id"): "self-hosted servers",
    ("profiles", ANY, "backend"): "external/remote members",
    ("profiles", ANY, "tools", "mcp"): "MCP server allow-list",
    ("profiles", ANY, "tools", "mcp_servers"): "MCP server configs",
    ("profiles", ANY, "tools", "rust_bundles"): "in-process Rust tool bundles",
    ("profiles", ANY, "tools", "workgraph"): "workgraph tools",
    ("profiles", ANY, "tools", "image_generation"): "image generation tools",
    ("profiles", ANY, "tools", "read_only"): "read-only tool gate",
    ("flows", ANY, "root"): "frame graph and repeat_until loops (the flat steps run as a DAG)",
    ("flows", ANY, "steps", ANY, "allowed_tools"): "step-scoped tool overlay",
    ("flows", ANY, "steps", ANY, "blocked_tools"): "step-scoped tool overlay",
}
"""Key path pattern → what upstream uses it for."""


class UpstreamKeyWarning(UserWarning):
    """A definition uses an upstream key mobkat does not implement; it is ignored."""


def _find(node: Any, pattern: tuple[str, ...], prefix: KeyPath) -> list[KeyPath]:
    """Paths in ``node`` matching ``pattern`` whose parents are all tables."""
    if not isinstance(node, dict) or not pattern:
        return []
    head, rest = pattern[0], pattern[1:]
    names = list(node) if head == ANY else [head] if head in node else []
    if not rest:
        return [(*prefix, name) for name in names]
    return [path for name in names for path in _find(node[name], rest, (*prefix, name))]


def _delete(data: dict[str, Any], path: KeyPath) -> None:
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def strip_upstream_keys(doc: TomlDocument) -> tuple[TomlDocument, list[str]]:
    """``doc`` without the upstream-only keys, and one warning ``file:line: key: ...`` per key removed
    (in file order). Each warning is also issued as an :class:`UpstreamKeyWarning` (``warnings.warn``)."""
    found = [(path, purpose) for pattern, purpose in UPSTREAM_ONLY.items() for path in _find(doc.data, pattern, ())]
    if not found:
        return doc, []
    found.sort(key=lambda item: (doc.line_of(item[0]) or 0, format_key(item[0])))
    data = copy.deepcopy(doc.data)
    messages: list[str] = []
    for path, purpose in found:
        _delete(data, path)
        line = doc.line_of(path)
        where = f"{doc.path}:{line}" if line is not None else doc.path
        message = f"{where}: {format_key(path)}: upstream key not implemented by mobkat ({purpose}); ignored"
        messages.append(message)
        warnings.warn(message, UpstreamKeyWarning, stacklevel=4)
    return dataclasses.replace(doc, data=data), messages


__all__ = ["UPSTREAM_ONLY", "UpstreamKeyWarning", "strip_upstream_keys"]
