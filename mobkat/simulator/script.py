"""What a test can script about the simulator: tool rules, faults and pacing (pydantic)."""

from __future__ import annotations

import os
import re
import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TEMPLATE_NAMES = "{0} (whole match), {1}.. (groups), {name} (named groups), {input} (whole user text)"


def _template_fields(template: str) -> list[str]:
    fields: list[str] = []
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if spec or conversion or not re.fullmatch(r"\w+", field):
            raise ValueError(f"template {template!r}: use plain fields only: {TEMPLATE_NAMES}")
        fields.append(field)
    return fields


def _string_templates(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _string_templates(item)]
    if isinstance(value, list):
        return [t for item in value for t in _string_templates(item)]
    return []


def _fill(value: Any, positional: list[str], named: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(*positional, **named)
    if isinstance(value, dict):
        return {key: _fill(item, positional, named) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, positional, named) for item in value]
    return value


class ToolRule(BaseModel):
    """When ``pattern`` (a case-insensitive regex) is found in the last user text, call ``tool``.

    String values in ``arguments`` (also nested) are ``str.format`` templates filled with
    {0} (whole match), {1}.. (groups), {name} (named groups) and {input} (whole user text).
    The rule applies only if ``tool`` is offered to the model. A rule never calls the same tool
    twice for one user message; with ``once=True`` it fires at most once per conversation.
    """

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1)
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)
    once: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _templates_match_pattern(self) -> ToolRule:
        compiled = re.compile(self.pattern, re.IGNORECASE)
        allowed = {str(i) for i in range(compiled.groups + 1)} | set(compiled.groupindex) | {"input"}
        for template in _string_templates(self.arguments):
            for field in _template_fields(template):
                if field not in allowed:
                    raise ValueError(
                        f"argument template {template!r} uses {{{field}}}, but pattern {self.pattern!r} "
                        f"only provides {', '.join('{' + a + '}' for a in sorted(allowed))}"
                    )
        return self

    def match(self, user_text: str) -> dict[str, Any] | None:
        """The filled-in arguments if the pattern is found in ``user_text``, else None."""
        found = re.search(self.pattern, user_text, re.IGNORECASE)
        if found is None:
            return None
        positional = [found.group(0), *(group or "" for group in found.groups())]
        named = {key: value or "" for key, value in found.groupdict().items()}
        named["input"] = user_text
        filled: dict[str, Any] = _fill(self.arguments, positional, named)
        return filled


class ErrorSpec(BaseModel):
    """An ``error`` event the simulator sends on request (like the real service's error events)."""

    model_config = ConfigDict(extra="forbid")

    code: str = "server_error"
    message: str = "The simulator was scripted to fail."
    type: str = "server_error"
    close: bool = False


class Faults(BaseModel):
    """Scripted failures of realtime connections.

    ``drop_after_events``: abort the TCP connection (no close frame) after this many more server
    events, counted per connection from when it is set (or from connect); with ``drop_once`` the
    fault clears itself after the first drop. ``delay_s``: sleep before every server event.
    ``pending_errors``: error events waiting for the next connection (``Simulator.send_error``
    sends to open connections at once). ``expire_after_s``: a connection older than this gets an
    ``error`` with code ``session_expired`` and is closed, like the real service's duration cap.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    drop_after_events: int | None = Field(default=None, ge=0)
    drop_once: bool = True
    delay_s: float = Field(default=0.0, ge=0.0)
    pending_errors: list[ErrorSpec] = Field(default_factory=list)
    expire_after_s: float | None = Field(default=None, ge=0.0)


class Transcription(BaseModel):
    """How the transcription of committed input audio reaches the client (when the session turned on
    ``audio.input.transcription``).

    By default it comes at once, before the response the input starts. The real service transcribes
    asynchronously, so ``late_s`` sends it that many seconds after the next ``response.done``
    instead, and ``fail`` sends ``conversation.item.input_audio_transcription.failed`` (the model
    still heard the audio) instead of ``.completed``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    late_s: float | None = Field(default=None, ge=0.0)
    fail: bool = False


def _default_voice() -> Any:
    """``$MOBKAT_SIM_VOICE`` (validated by the field: auto, tone or speech), else ``"auto"``."""
    return os.environ.get("MOBKAT_SIM_VOICE", "").strip() or "auto"


class Speech(BaseModel):
    """How replies are spoken.

    ``word_gaps_ms``: each single space between two words is a pause of this many ms (taken in
    turn) instead of a 20 ms tone, so the audio time per transcript character varies while the
    words still decode the same. ``cancel_lag_chunks``: audio chunks (each with its transcript
    delta) that still go out after a response is cancelled, like deltas already in flight on the
    real service.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    word_gaps_ms: list[int] = Field(default_factory=list)
    cancel_lag_chunks: int = Field(default=0, ge=0)
    voice: Literal["auto", "tone", "speech"] = Field(default_factory=lambda: _default_voice(), validate_default=True)
    """``"speech"``: replies are real speech (``mobkat[speech]``; tones when it is not installed);
    ``"tone"``: always the codec; ``"auto"``: real speech when the caller's latest audio was heard
    as real speech, codec tones after codec or text input. Default: ``$MOBKAT_SIM_VOICE`` or
    ``"auto"`` (docs/speech.md)."""

    @field_validator("word_gaps_ms")
    @classmethod
    def _gaps_in_range(cls, gaps: list[int]) -> list[int]:
        if any(not 10 <= gap <= 10_000 for gap in gaps):
            raise ValueError(f"word_gaps_ms {gaps}: every pause must be 10..10000 ms (a shorter one would "
                             "not separate words)")
        return gaps


DEFAULT_RULES: list[ToolRule] = []
"""Tool rules every new script starts with (none yet; peer-relay heuristics may come here)."""


class SimulatorScript(BaseModel):
    """Everything scriptable: ``tool_rules`` (first match wins), ``faults``, ``pace``, ``transcription``
    and ``speech``.

    ``pace`` is wall-clock seconds per second of generated audio (0 = as fast as possible);
    text-only responses are paced as if spoken.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    tool_rules: list[ToolRule] = Field(default_factory=lambda: list(DEFAULT_RULES))
    faults: Faults = Field(default_factory=Faults)
    pace: float = Field(default=0.0, ge=0.0)
    transcription: Transcription = Field(default_factory=Transcription)
    speech: Speech = Field(default_factory=Speech)
