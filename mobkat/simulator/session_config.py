"""A realtime session's configuration: the defaults a new session starts with and ``session.update``."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

PCM_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": 24000}
SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SESSION_LIFETIME_S = 3600
# keys whose value a session.update replaces wholesale instead of merging into
_REPLACED = {
    "turn_detection",
    "tools",
    "tool_choice",
    "format",
    "transcription",
    "noise_reduction",
    "tracing",
    "truncation",
    "prompt",
    "include",
    "output_modalities",
    "reasoning",
}


class SessionConfigError(Exception):
    """A ``session.update`` the simulator cannot apply; ``param`` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def default_session(model: str, session_id: str) -> dict[str, Any]:
    """What ``session.created`` reports for a new connection (server VAD on, like OpenAI)."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": model,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "audio": {
            "input": {
                "format": dict(PCM_FORMAT),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(PCM_FORMAT), "voice": "marin", "speed": 1.0},
        },
    }


def _merge(current: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if key not in _REPLACED and isinstance(value, dict) and isinstance(current.get(key), dict):
            _merge(current[key], value)
        else:
            current[key] = copy.deepcopy(value)


def merge_session(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``current`` with a ``session.update`` applied; raises :class:`SessionConfigError`."""
    if update.get("type") != "realtime":
        raise SessionConfigError(
            f"The simulator only serves realtime sessions; got session.type {update.get('type')!r}.",
            "session.type",
        )
    merged = copy.deepcopy(current)
    _merge(merged, {k: v for k, v in update.items() if k not in ("id", "object", "expires_at")})
    audio = merged.get("audio") or {}
    for direction in ("input", "output"):
        fmt = ((audio.get(direction) or {}).get("format")) or PCM_FORMAT
        if fmt.get("type", "audio/pcm") != "audio/pcm" or fmt.get("rate", 24000) != 24000:
            raise SessionConfigError(
                f"The simulator only speaks audio/pcm at 24000 Hz; got {fmt!r}.",
                f"session.audio.{direction}.format",
            )
    detection = (audio.get("input") or {}).get("turn_detection")
    if isinstance(detection, dict):
        audio["input"]["turn_detection"] = {**SERVER_VAD_DEFAULTS, **detection}
    return merged


@dataclass(frozen=True)
class TurnDetection:
    """Energy VAD settings (``semantic_vad`` is treated as ``server_vad``)."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool


def turn_detection(session: dict[str, Any]) -> TurnDetection | None:
    """The session's turn detection, or None when the client commits audio itself."""
    raw = ((session.get("audio") or {}).get("input") or {}).get("turn_detection")
    if not isinstance(raw, dict):
        return None
    values = {**SERVER_VAD_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
    return TurnDetection(
        threshold=float(values["threshold"]),
        prefix_padding_ms=int(values["prefix_padding_ms"]),
        silence_duration_ms=int(values["silence_duration_ms"]),
        create_response=bool(values["create_response"]),
        interrupt_response=bool(values["interrupt_response"]),
    )


def transcription_enabled(session: dict[str, Any]) -> bool:
    """Whether input audio transcription events are configured."""
    return isinstance(((session.get("audio") or {}).get("input") or {}).get("transcription"), dict)


def output_modalities(session: dict[str, Any]) -> list[str]:
    return list(session.get("output_modalities") or ["audio"])


def voice(session: dict[str, Any]) -> str:
    return str(((session.get("audio") or {}).get("output") or {}).get("voice") or "marin")


def offered_tools(tools: list[Any] | None, tool_choice: Any) -> list[str]:
    """Names of the function tools the model may call, after ``tool_choice``."""
    names = [t["name"] for t in tools or [] if isinstance(t, dict) and t.get("type", "function") == "function"]
    if tool_choice == "none":
        return []
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        return [name for name in names if name == tool_choice.get("name")]
    return names
