"""Write plain data (tables, strings, numbers, booleans, arrays) as TOML text (config writes)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(key: str) -> str:
    return key if _BARE.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"{type(value).__name__} cannot be written as TOML")


def dumps(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document: scalars and arrays first, then one ``[table]`` per nested mapping."""
    lines: list[str] = []
    _table(data, (), lines)
    return "\n".join(lines).strip() + "\n" if lines else ""


def _table(data: Mapping[str, Any], path: tuple[str, ...], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in data.items() if v is not None and not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        lines.append(f"[{'.'.join(_key(part) for part in path)}]")
    for key, value in scalars:
        lines.append(f"{_key(str(key))} = {_value(value)}")
    if scalars or (path and not tables):
        lines.append("")
    for key, value in tables:
        _table(value, (*path, str(key)), lines)
