"""TOML documents that remember where each key was written, and pydantic validation whose
errors name ``file:line: dotted.key: problem`` (a :class:`~mobkat.errors.ConfigError`).

Used by the config loader and the mob-definition loader. Models validated here should use
``extra="forbid"`` (unknown keys become errors) and usually ``strict=True`` (TOML is typed:
``"5"`` is not an integer); use ``list[...]`` for arrays, or ``Field(strict=False)`` on tuples.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mobkat.errors import ConfigError
from mobkat.toml_limits import check_nesting
from mobkat.toml_positions import BARE_KEY, KeyPath, scan_key_lines

__all__ = [
    "KeyPath",
    "TomlDocument",
    "describe_value",
    "format_key",
    "load_toml",
    "parse_key",
    "parse_toml",
    "parse_toml_bytes",
    "validate_document",
]

M = TypeVar("M", bound=BaseModel)

_AT_LINE = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")
_KEY_TUPLE = re.compile(r"\((?:'[^']*'|\"[^\"]*\")(?:, (?:'[^']*'|\"[^\"]*\"))*,?\)")


def format_key(path: Sequence[str | int]) -> str:
    """Render a key path as TOML would write it: ``models."gpt-5.5".provider``, ``tools[1].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if BARE_KEY.fullmatch(part) else _quote(part)
        out += f".{text}" if out else text
    return out


def parse_key(dotted: str) -> tuple[str, ...]:
    """Parse a TOML dotted key (``a."b.c".d``) into its parts; ``ValueError`` if it is not one."""
    try:
        node: Any = tomllib.loads(f"{dotted} = 0")
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not a TOML dotted key: {dotted!r}") from exc
    parts: list[str] = []
    while isinstance(node, dict) and len(node) == 1:
        key, node = next(iter(node.items()))
        parts.append(key)
    if node != 0 or not parts:
        raise ValueError(f"not a TOML dotted key: {dotted!r}")
    return tuple(parts)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(
        ch if ch.isprintable() else f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"
        for ch in escaped
    )
    return f'"{escaped}"'


@dataclass(frozen=True, eq=False)
class TomlDocument:
    """Parsed TOML data plus its source: ``path`` as given (used verbatim in messages) and text."""

    path: str
    data: dict[str, Any]
    text: str = ""
    _lines: dict[KeyPath, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lines", scan_key_lines(self.text) if self.text else {})

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Line (1-based) where ``path`` is written; for a key that is absent or lives inside an
        inline table, the line of its nearest written ancestor. ``None`` if nothing is found."""
        key = tuple(path)
        while key:
            line = self._lines.get(key)
            if line is not None:
                return line
            key = key[:-1]
        return None

    def error(self, path: Sequence[str | int], problem: str) -> ConfigError:
        """A :class:`ConfigError` for ``problem`` at ``path`` (file, line and dotted key filled in)."""
        return ConfigError(self.path, self.line_of(path), format_key(path), problem)


def parse_toml(text: str, path: str) -> TomlDocument:
    """Parse TOML ``text`` that came from ``path``; syntax errors, and nesting deeper than
    :data:`~mobkat.toml_limits.MAX_TOML_DEPTH` levels, become a ``ConfigError``."""
    check_nesting(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, problem = _describe_syntax_error(str(exc), text)
        raise ConfigError(path, line, "", problem) from None
    except RecursionError:
        raise ConfigError(path, None, "", "TOML syntax error: values are nested too deeply") from None
    return TomlDocument(path=path, data=data, text=text)


def load_toml(path: str | os.PathLike[str]) -> TomlDocument:
    """Read and parse the TOML file at ``path``. Every failure is a ``ConfigError`` naming it."""
    shown = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(shown, None, "", f"cannot read the file: {exc.strerror or exc}") from None
    return parse_toml_bytes(raw, shown)


def parse_toml_bytes(raw: bytes, path: str) -> TomlDocument:
    """Decode (UTF-8) and parse TOML read from ``path``; every failure is a ``ConfigError`` naming it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(path, line, "", "the file is not valid UTF-8 text") from None
    return parse_toml(text, path)


def _describe_syntax_error(message: str, text: str) -> tuple[int | None, str]:
    line: int | None = None
    found = _AT_LINE.search(message)
    if found:
        line = int(found.group(1))
        message = message[: found.start()] + f" (column {found.group(2)})"
    elif _AT_END.search(message):
        line = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))
        message = _AT_END.sub(" (at end of file)", message)
    message = _KEY_TUPLE.sub(_key_tuple_to_dotted, message)
    return line, "TOML syntax error: " + message[:1].lower() + message[1:]


def _key_tuple_to_dotted(match: re.Match[str]) -> str:
    try:
        parts = ast.literal_eval(match.group(0))
    except (ValueError, SyntaxError):
        return match.group(0)
    return format_key(parts) if isinstance(parts, tuple) else match.group(0)


# --------------------------------------------------------------------------- validation


def validate_document(
    model: type[M],
    doc: TomlDocument,
    *,
    context: dict[str, Any] | None = None,
) -> M:
    """Validate ``doc.data`` as ``model``. On failure raise a ``ConfigError`` for the problem that
    comes first in the file; ``details["other_problems"]`` lists the rest (same format)."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        problems: list[tuple[float, int, ConfigError]] = []
        for index, err in enumerate(_without_misspelt_missing(model, exc.errors())):
            error = _config_error(model, doc, err)
            problems.append((error.line if error.line is not None else float("inf"), index, error))
        problems.sort(key=lambda item: (item[0], item[1]))
        first = problems[0][2]
        first.details["other_problems"] = [str(other) for _, _, other in problems[1:]]
        raise first from None


def _without_misspelt_missing(model: type[BaseModel], errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop "required key is missing" errors that a sibling unknown key explains as a typo (its
    did-you-mean names the missing key): ``modle = ...`` is reported once, with the guess."""
    guesses: set[tuple[str | int, ...]] = set()
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden" and loc:
            close = difflib.get_close_matches(str(loc[-1]), _allowed_keys(model, loc[:-1]), n=1, cutoff=0.6)
            guesses.update((*loc[:-1], guess) for guess in close)
    return [err for err in errors if err["type"] != "missing" or tuple(err["loc"]) not in guesses]


def _config_error(model: type[BaseModel], doc: TomlDocument, err: ErrorDetails) -> ConfigError:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    path = _document_path(doc.data, loc)
    kind: str = err["type"]
    if loc and loc[-1] == "[key]":
        return doc.error(path, _bad_key_problem(model, loc, err))
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        return doc.error(path, f"unknown key {str(loc[-1])!r}{_suggestion(str(loc[-1]), allowed)}")
    return doc.error(path, _problem(err))


def _document_path(data: Any, loc: tuple[str | int, ...]) -> KeyPath:
    """Map a pydantic ``loc`` onto the document, dropping pydantic-internal parts (union tags)."""
    out: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        if part == "[key]":
            continue
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            node = node[part]
        elif position == len(loc) - 1:
            node = None
        else:
            continue
        out.append(part)
    return tuple(out)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "an array",
    "tuple_type": "an array",
    "set_type": "an array",
}


def _problem(err: ErrorDetails) -> str:
    kind: str = err["type"]
    msg: str = err["msg"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    got = describe_value(err.get("input"))
    if kind == "missing":
        return "required key is missing"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}"
    if kind in ("literal_error", "enum"):
        return f"expected one of {ctx.get('expected', '?')}, got {got}"
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value error|Assertion failed), ", "", msg)
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "expected a non-empty string"
    if msg.startswith("Input should be "):
        return f"expected {msg.removeprefix('Input should be ')}, got {got}"
    return f"{msg[:1].lower()}{msg[1:]}, got {got}"


def describe_value(value: Any) -> str:
    """A short, TOML-flavoured description of a value for error messages."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return f"date/time {value.isoformat()}"
    return type(value).__name__


def _suggestion(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if candidates:
        return " (known keys: " + ", ".join(sorted(candidates)) + ")"
    return ""


def _bad_key_problem(model: type[BaseModel], loc: tuple[str | int, ...], err: ErrorDetails) -> str:
    key = str(err.get("input"))
    choices = _literal_values(_dict_key_type(_annotation_at(model, loc[:-2])))
    if err["type"] == "literal_error" and choices:
        close = difflib.get_close_matches(key, choices, n=1, cutoff=0.6)
        mean = f"; did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(repr(choice) for choice in choices)
        return f"unknown key {key!r} (expected one of {listed}{mean})"
    return f"invalid key {key!r}: {_problem(err)}"


# ---- walking model annotations (for "did you mean" and literal dict keys)


def _members(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / unions into the concrete member annotations."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [] if annotation is type(None) else [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for member in _members(annotation):
        origin = get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel) and isinstance(part, str):
            for name, info in member.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        elif origin in (dict, Mapping) and isinstance(part, str):
            return get_args(member)[1]
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            return get_args(member)[0]
    return None


def _annotation_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> Any:
    annotation: Any = model
    for part in loc:
        stepped = _step(annotation, part)
        if stepped is not None:
            annotation = stepped  # parts that do not step are pydantic union tags: skip them
    return annotation


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    keys: list[str] = []
    for member in _members(_annotation_at(model, loc)):
        if isinstance(member, type) and issubclass(member, BaseModel):
            keys.extend(info.alias or name for name, info in member.model_fields.items())
    return keys


def _dict_key_type(annotation: Any) -> Any:
    for member in _members(annotation):
        if get_origin(member) in (dict, Mapping):
            return get_args(member)[0]
    return None


def _literal_values(annotation: Any) -> list[str]:
    return [
        str(value)
        for member in _members(annotation)
        if get_origin(member) is Literal
        for value in get_args(member)
    ]
