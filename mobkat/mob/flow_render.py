"""The pure parts of running a flow step: reading ``params.x`` / ``steps.<id>.output.<path>``, rendering a
step's message template, evaluating its condition, parsing a member's reply (``text`` or ``json``, a fenced
code block extracted) and aggregating per-target outputs (upstream's rules, ``docs/flows.md``)."""

from __future__ import annotations

import json
import re
from typing import Any

from mobkat.mob.flow_checks import TEMPLATE
from mobkat.mob.flow_schema import AllAnyCondition, AnyPolicy, Condition, EqCondition, FlowStep, InCondition
from mobkat.simulator.structured import SCHEMA_INSTRUCTION  # the wording the simulator answers with JSON

_FENCE = re.compile(r"```(?:json)?\s*\n?(.*?)```", re.DOTALL)


class Missing(Exception):
    """A path into a value that is not there (yet)."""


class StepFault(Exception):
    """A step cannot run or its reply cannot be used; ``cause`` is upstream's failure cause."""

    def __init__(self, cause: str, reason: str) -> None:
        super().__init__(reason)
        self.cause = cause
        self.reason = reason


def lookup(path: str, params: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """The value at ``params.a.b`` or ``steps.<id>[.output].a.b``; :class:`Missing` if absent."""
    parts = path.split(".")
    if parts[0] == "params":
        node: Any = params
        rest = parts[1:]
    elif parts[0] == "steps" and len(parts) > 1:
        if parts[1] not in outputs:
            raise Missing(path)
        node = outputs[parts[1]]
        rest = parts[2:]
        if rest and rest[0] == "output":
            rest = rest[1:]
    else:
        raise Missing(path)
    for part in rest:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise Missing(path)
    return node


def render(template: str, params: dict[str, Any], outputs: dict[str, Any]) -> str:
    """Fill ``{{ path }}`` in: strings as they are, other values as JSON; a missing value is a step fault."""

    def fill(match: re.Match[str]) -> str:
        path = match.group(1).strip()
        try:
            value = lookup(path, params, outputs)
        except Missing:
            raise StepFault("step_error", f"template {{{{ {path} }}}}: no such value") from None
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    return TEMPLATE.sub(fill, template)


def holds(condition: Condition, params: dict[str, Any], outputs: dict[str, Any]) -> bool:
    """Evaluate a condition; a path that does not exist (yet) makes its comparison false."""
    if isinstance(condition, AllAnyCondition):
        results = [holds(expr, params, outputs) for expr in condition.exprs]
        return all(results) if condition.op == "and" else any(results)
    if isinstance(condition, EqCondition | InCondition):
        try:
            value = lookup(condition.path, params, outputs)
        except Missing:
            return False
        if isinstance(condition, InCondition):
            return value in condition.values
        if condition.op == "eq":
            return bool(value == condition.value)
        try:
            return bool(value > condition.value) if condition.op == "gt" else bool(value < condition.value)
        except TypeError:
            return False
    return not holds(condition.expr, params, outputs)


def prompt_for(message: str, schema: dict[str, Any] | None) -> str:
    """The prompt a member gets: the rendered message, plus the schema when the output must match one."""
    if schema is None:
        return message
    return f"{message}\n\n{SCHEMA_INSTRUCTION}\n```json\n{json.dumps(schema, sort_keys=True)}\n```"


def parse_output(text: str, json_output: bool) -> Any:
    """A reply as the step's output: the text, or the JSON it holds (a fenced block is extracted; malformed
    JSON is a ``schema_validation`` fault, never coerced)."""
    if not json_output:
        return text
    fenced = _FENCE.findall(text)
    candidate = fenced[-1] if fenced else text
    try:
        return json.loads(candidate.strip())
    except json.JSONDecodeError as exc:
        raise StepFault("schema_validation", f"the reply is not valid JSON ({exc}): {text[:200]!r}") from None


def aggregate(step: FlowStep, successes: dict[str, Any]) -> Any:
    """The step's output from its successful targets' outputs (by identity): ``fan_in`` → a list of
    ``{target, output}`` in identity order; collection ``any`` → the first success; else ``{identity: output}``."""
    names = sorted(successes)
    if step.dispatch_mode == "fan_in":
        return [{"target": name, "output": successes[name]} for name in names]
    if isinstance(step.collection_policy, AnyPolicy):
        return successes[names[0]]
    return {name: successes[name] for name in names}


__all__ = ["SCHEMA_INSTRUCTION", "Missing", "StepFault", "aggregate", "holds", "lookup", "parse_output",
           "prompt_for", "render"]
