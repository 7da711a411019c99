"""Structured replies: when the last user text asks for JSON matching a schema (in the wording mobkat's flow
engine uses: :data:`SCHEMA_INSTRUCTION`, then the schema in a fenced block), the simulator answers with a
deterministic instance of that schema, built from the request's own text."""

from __future__ import annotations

import json
import re
from typing import Any

SCHEMA_INSTRUCTION = "Reply with only a JSON value matching this JSON schema:"
_REQUEST = re.compile(re.escape(SCHEMA_INSTRUCTION) + r"\s*```(?:json)?\s*(?P<schema>.*?)```", re.DOTALL)


def structured_reply(text: str) -> str | None:
    """The JSON answer (as text, in a fenced block) to a request for schema-shaped output, or ``None``."""
    found = _REQUEST.search(text)
    if found is None:
        return None
    try:
        schema = json.loads(found.group("schema"))
    except json.JSONDecodeError:
        return None
    if not isinstance(schema, dict):
        return None
    about = " ".join(text[: found.start()].split())[:200] or "the request"
    return "```json\n" + json.dumps(sample(schema, about), sort_keys=True) + "\n```"


def sample(schema: dict[str, Any], about: str) -> Any:
    """A value matching the usual structured-output keywords (``pattern`` and ``format`` are not honoured)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return sample(schema[key][0], about)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties") or {}
        return {name: sample(sub, about) for name, sub in properties.items() if isinstance(sub, dict)}
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [sample(items or {}, about) for _ in range(max(1, int(schema.get("minItems", 1))))]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 1), schema.get("maximum")
        value = low if high is None else min(low, high)
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = about[: int(schema["maxLength"])] if "maxLength" in schema else about
    return text.ljust(int(schema.get("minLength", 0)), ".")
