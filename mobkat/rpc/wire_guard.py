"""Bounds on one JSON text before it is parsed: nesting depth, member count, lone surrogates.

``json.loads`` recurses once per nesting level (about 1000 levels raise ``RecursionError``) and
allocates an object per member, so a short line can crash a parser or cost hundreds of megabytes.
:func:`check_json_shape` measures the structure with a few whole-buffer ``bytes`` operations (no
Python loop over characters, no recursion) and refuses it before ``json.loads`` runs:

1. escaped backslashes and quotes are removed, so every remaining ``"`` delimits a string;
2. if there are fewer quotes than the member bound allows, string bodies are cut out, leaving the
   structural characters; ``[ { ,`` are counted (members), and nesting depth is found by deleting
   innermost ``[]`` pairs at most ``max_depth`` times.

A line the scan passes can still be invalid JSON; ``json.loads`` then says why (and a
``RecursionError`` is caught all the same). JSON text is read as strict UTF-8, and strings holding a
lone UTF-16 surrogate (``"\\udc80"``) are found with :func:`lone_surrogate_path` before any handler
sees them: they cannot be stored, encoded or sent to a provider.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in one request or live text frame."""
MAX_JSON_MEMBERS = 100_000
"""Most array/object members (counted as ``[``, ``{`` and ``,`` outside strings) in one request."""

_STRING_BODY = re.compile(rb'"[^"]*"')
_STRUCTURE_ONLY = bytes(b for b in range(256) if b not in b"[]{},")
_TO_SQUARE = bytes.maketrans(b"{}", b"[]")
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class ShapeProblem:
    """Why a JSON text was refused before parsing: ``kind`` is ``too_deep`` or ``too_many_members``."""

    kind: str
    message: str
    limit: int


def check_json_shape(text: bytes, *, max_depth: int = MAX_JSON_DEPTH,
                     max_members: int = MAX_JSON_MEMBERS) -> ShapeProblem | None:
    """None if ``text`` nests at most ``max_depth`` deep and has at most ``max_members`` members."""
    unescaped = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    too_many = ShapeProblem("too_many_members", f"more than {max_members} array/object members "
                            "(a request is a control message, not bulk data)", max_members)
    if unescaped.count(b'"') > 4 * (max_members + 1):  # at most two strings (key, value) per member
        return too_many
    structure = _STRING_BODY.sub(b"", unescaped).translate(None, _STRUCTURE_ONLY)
    closers = structure.count(b"]") + structure.count(b"}")
    if len(structure) - closers > max_members:
        return too_many
    brackets = structure.replace(b",", b"").translate(_TO_SQUARE)
    if closers > len(brackets) - closers:
        return None  # more closing than opening brackets: not JSON, and json.loads stops at the first stray one
    for _ in range(max_depth):
        if not brackets:
            return None
        inner_removed = brackets.replace(b"[]", b"")
        if len(inner_removed) == len(brackets):
            break  # only unmatched brackets are left: the text is not JSON, json.loads will say so
        brackets = inner_removed
    if b"[]" in brackets or brackets.count(b"[") > max_depth:
        return ShapeProblem("too_deep", f"JSON nested deeper than {max_depth} levels", max_depth)
    return None


class JsonTextError(ValueError):
    """A JSON text that was refused: not UTF-8, not JSON, or a :class:`ShapeProblem`."""

    def __init__(self, message: str, shape: ShapeProblem | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.shape = shape


def load_bounded(text: bytes, *, max_depth: int = MAX_JSON_DEPTH, max_members: int = MAX_JSON_MEMBERS) -> Any:
    """``json.loads`` of strict UTF-8 ``text`` within the shape bounds; raises :class:`JsonTextError`."""
    shape = check_json_shape(text, max_depth=max_depth, max_members=max_members)
    if shape is not None:
        raise JsonTextError(shape.message, shape)
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonTextError(f"not UTF-8 (byte {exc.start}: {exc.reason})") from None
    try:
        return json.loads(decoded)
    except RecursionError:
        raise JsonTextError(f"JSON nested deeper than {max_depth} levels",
                            ShapeProblem("too_deep", "too deep", max_depth)) from None
    except ValueError as exc:
        raise JsonTextError(str(exc)) from None


def may_hold_surrogates(text: bytes) -> bool:
    """False when strict UTF-8 JSON ``text`` cannot hold a surrogate: it has no ``\\uD800``-``\\uDFFF`` escape."""
    return _MAYBE_SURROGATE.search(text) is not None


def lone_surrogate_path(value: Any, root: str) -> str | None:
    """The path (``params.prompt[0].text``) of the first string or key holding a lone surrogate, else None.

    Iterative (no recursion) and linear in the size of ``value``.
    """
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _has_surrogate(item):
                return path
        elif isinstance(item, dict):
            members: list[tuple[Any, str]] = []
            for key, member in item.items():
                key_text = str(key)
                shown = f"{path}.{key_text.encode('utf-8', 'backslashreplace').decode('utf-8')}"
                if _has_surrogate(key_text):
                    return shown
                members.append((member, shown))
            stack.extend(reversed(members))  # popped in document order
        elif isinstance(item, list):
            stack.extend(reversed([(member, f"{path}[{index}]") for index, member in enumerate(item)]))
    return None


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
