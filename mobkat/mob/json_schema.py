"""A small JSON-schema checker for flow step outputs (``output_schema``, ``expected_schema_ref``).

It covers the keywords structured-output schemas use: ``type`` (one or a list), ``enum``, ``const``,
``properties``, ``required``, ``additionalProperties``, ``items``, ``minItems``/``maxItems``,
``minLength``/``maxLength``, ``pattern``, ``minimum``/``maximum``, ``anyOf``/``oneOf``/``allOf``.
Other keywords (``title``, ``description``, ``$schema``, ...) are accepted and not checked.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` cannot be used (not an object, unknown ``type``, bad ``pattern``), or ``None``."""
    if not isinstance(schema, dict):
        return f"a JSON schema must be an object, got {type(schema).__name__}"
    kinds = schema.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if kind not in _TYPES:
            return f"unknown JSON schema type {kind!r} (types: {', '.join(sorted(_TYPES))})"
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            return f"bad pattern {pattern!r}: {exc}"
    children: list[Any] = list((schema.get("properties") or {}).values()) if isinstance(
        schema.get("properties"), dict) else []
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            children.append(schema[key])
    for key in ("anyOf", "oneOf", "allOf"):
        children.extend(schema.get(key) or [])
    for child in children:
        problem = schema_problem(child)
        if problem:
            return problem
    return None


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    return isinstance(value, {"string": str, "object": dict, "array": list}[kind])


def validate(schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``"<json path>: <problem>"`` (empty: it matches)."""
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        options = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_type(value, kind) for kind in options):
            return [f"{where}: expected {' or '.join(options)}, got {_name(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}, got {value!r}")
    if isinstance(value, str):
        problems += _string(schema, value, where)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{where}: {value} is below the minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{where}: {value} is above the maximum {schema['maximum']}")
    if isinstance(value, dict):
        problems += _object(schema, value, where)
    if isinstance(value, list):
        problems += _array(schema, value, where)
    for sub in schema.get("allOf") or []:
        problems += validate(sub, value, where)
    if schema.get("anyOf") and all(validate(sub, value, where) for sub in schema["anyOf"]):
        problems.append(f"{where}: matches none of anyOf")
    if schema.get("oneOf") and sum(not validate(sub, value, where) for sub in schema["oneOf"]) != 1:
        problems.append(f"{where}: does not match exactly one of oneOf")
    return problems


def _name(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, kind):
            return kind
    return type(value).__name__


def _string(schema: dict[str, Any], value: str, where: str) -> list[str]:
    problems = []
    if "minLength" in schema and len(value) < schema["minLength"]:
        problems.append(f"{where}: shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{where}: longer than {schema['maxLength']} characters")
    if "pattern" in schema and not re.search(str(schema["pattern"]), value):
        problems.append(f"{where}: {value!r} does not match pattern {schema['pattern']!r}")
    return problems


def _object(schema: dict[str, Any], value: dict[str, Any], where: str) -> list[str]:
    problems = [f"{where}: missing required property {key!r}" for key in schema.get("required") or []
                if key not in value]
    properties: dict[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            problems += validate(properties[key], item, f"{where}.{key}")
        elif extra is False:
            problems.append(f"{where}: unexpected property {key!r}")
        elif isinstance(extra, dict):
            problems += validate(extra, item, f"{where}.{key}")
    return problems


def _array(schema: dict[str, Any], value: list[Any], where: str) -> list[str]:
    problems = []
    if "minItems" in schema and len(value) < schema["minItems"]:
        problems.append(f"{where}: fewer than {schema['minItems']} items")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{where}: more than {schema['maxItems']} items")
    if isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += validate(schema["items"], item, f"{where}[{index}]")
    return problems


__all__ = ["schema_problem", "validate"]
