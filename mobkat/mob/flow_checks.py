"""Semantic checks of ``[flows.*]`` (upstream's flow-spec validation): step roles name profiles,
dependencies name steps of the same flow and form no cycle, branch groups are well formed, templates
and conditions read ``params`` or declared ``steps``, and every JSON schema (a profile's
``output_schema``, a step's ``expected_schema_ref``) can be used. Problems are reported through the
definition checker (``file:line: key`` errors); ``json_output_without_schema`` is a warning."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobkat.mob.definition_files import MAX_SKILL_BYTES, FileRefused, read_confined
from mobkat.mob.definition_schema import MobDocument
from mobkat.mob.flow_schema import AllAnyCondition, Condition, FlowSpec, FlowStep, NotCondition, QuorumPolicy
from mobkat.mob.json_schema import schema_problem
from mobkat.mob.trust import DefinitionTrust
from mobkat.toml_source import KeyPath

MAX_DEPTH = 32
"""Upstream's limit on a flow's dependency depth (``flow_depth_exceeded``)."""
TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
TEMPLATE_ROOTS = ("params", "steps")

Add = Callable[[KeyPath, str], Any]


@dataclass
class CheckedFlows:
    """What the flow checks resolved: each step's expected schema (``(flow, step)`` → schema) and warnings
    (``(key path, problem)``)."""

    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    warnings: list[tuple[KeyPath, str]] = field(default_factory=list)


def check_flows(raw: MobDocument, add: Add, base_dir: Path, trust: DefinitionTrust) -> CheckedFlows:
    """Check every profile ``output_schema`` and every flow; report errors with ``add(path, problem)``."""
    checked = CheckedFlows()
    for name, profile in raw.profiles.items():
        if profile.output_schema is not None:
            problem = schema_problem(profile.output_schema)
            if problem:
                add(("profiles", name, "output_schema"), problem)
    for flow_id, flow in raw.flows.items():
        here: KeyPath = ("flows", flow_id)
        if not flow.steps:
            add(here, "a flow needs at least one step: add [flows.<flow>.steps.<step>] with role and message")
            continue
        for step_id, step in flow.steps.items():
            _check_step(raw, flow, (flow_id, step_id), step, add, checked, base_dir, trust)
        _check_cycles(flow, here, add)
        _check_branches(flow, here, add)
    return checked


def _check_step(raw: MobDocument, flow: FlowSpec, ids: tuple[str, str], step: FlowStep, add: Add,
                checked: CheckedFlows, base_dir: Path, trust: DefinitionTrust) -> None:
    here: KeyPath = ("flows", ids[0], "steps", ids[1])
    if step.role not in raw.profiles:
        add((*here, "role"), _unknown("profile", step.role, raw.profiles))
    for index, dependency in enumerate(step.depends_on):
        if dependency not in flow.steps:
            add((*here, "depends_on", index), _unknown("step", dependency, flow.steps))
    if isinstance(step.collection_policy, QuorumPolicy) and step.collection_policy.n < 1:
        add((*here, "collection_policy"), "quorum n must be at least 1")
    for expression in TEMPLATE.findall(step.message):
        problem = path_problem(expression.strip(), flow)
        if problem:
            add((*here, "message"), f"template {{{{{expression}}}}}: {problem}")
    if step.condition is not None:
        for path in _condition_paths(step.condition):
            problem = path_problem(path, flow)
            if problem:
                add((*here, "condition"), f"path {path!r}: {problem}")
    schema = _step_schema(step, (*here, "expected_schema_ref"), add, base_dir, trust)
    profile = raw.profiles.get(step.role)
    if schema is None and profile is not None:
        schema = profile.output_schema
    if schema is not None:
        checked.schemas[ids] = schema
    elif step.output_format == "json":
        checked.warnings.append(((*here, "output_format"), 'output_format = "json" without a schema '
                                 "(expected_schema_ref or the role's output_schema): any JSON value is accepted"))


def path_problem(path: str, flow: FlowSpec) -> str | None:
    """Why a template or condition path cannot be read, or ``None`` (``params.x``, ``steps.<id>.output...``)."""
    parts = path.split(".")
    if not path or not all(parts):
        return "expected a dotted path such as params.topic or steps.<step>.output"
    if parts[0] not in TEMPLATE_ROOTS:
        return f"unknown root {parts[0]!r} (use params.<name> or steps.<step>.output)"
    if parts[0] == "steps" and (len(parts) < 2 or parts[1] not in flow.steps):
        return _unknown("step", parts[1] if len(parts) > 1 else "", flow.steps)
    return None


def _condition_paths(condition: Condition) -> list[str]:
    if isinstance(condition, AllAnyCondition):
        return [path for expr in condition.exprs for path in _condition_paths(expr)]
    if isinstance(condition, NotCondition):
        return _condition_paths(condition.expr)
    return [condition.path]


def _step_schema(step: FlowStep, here: KeyPath, add: Add, base_dir: Path,
                 trust: DefinitionTrust) -> dict[str, Any] | None:
    ref = step.expected_schema_ref
    if ref is None:
        return None
    text = ref
    if not ref.lstrip().startswith("{"):
        try:
            text = read_confined(ref, base=base_dir, root=trust.file_root(base_dir), remote=trust.remote,
                                 limit=MAX_SKILL_BYTES).decode("utf-8", errors="replace")
        except FileRefused as exc:
            add(here, f"schema file {ref!r} {exc.problem}")
            return None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        add(here, f"not valid JSON (an inline schema or a path to a .json file): {exc}")
        return None
    problem = schema_problem(schema)
    if problem:
        add(here, problem)
        return None
    return schema  # type: ignore[no-any-return]


def _check_cycles(flow: FlowSpec, here: KeyPath, add: Add) -> None:
    """Report each dependency cycle once, at the first step of it in authoring order; and depth > 32."""
    state: dict[str, str] = {}
    depth: dict[str, int] = {}

    def visit(step_id: str, trail: list[str]) -> int:
        if state.get(step_id) == "done":
            return depth[step_id]
        if state.get(step_id) == "open":
            cycle = [*trail[trail.index(step_id):], step_id]
            first = min(cycle[:-1], key=list(flow.steps).index)
            add((*here, "steps", first, "depends_on"), "dependency cycle: " + " -> ".join(cycle))
            return 0
        state[step_id] = "open"
        deps = [d for d in flow.steps[step_id].depends_on if d in flow.steps]
        depth[step_id] = 1 + max((visit(d, [*trail, step_id]) for d in deps), default=0)
        state[step_id] = "done"
        return depth[step_id]

    for step_id in flow.steps:
        if visit(step_id, []) > MAX_DEPTH:
            add((*here, "steps", step_id, "depends_on"), f"dependency chain deeper than {MAX_DEPTH} steps")
            return


def _check_branches(flow: FlowSpec, here: KeyPath, add: Add) -> None:
    groups: dict[str, list[str]] = {}
    for step_id, step in flow.steps.items():
        if step.branch is not None:
            groups.setdefault(step.branch, []).append(step_id)
    for branch, members in groups.items():
        first = (*here, "steps", members[0], "branch")
        if len(members) < 2:
            add(first, f"branch {branch!r} has a single step; a branch group needs at least two")
            continue
        deps = {step_id: sorted(flow.steps[step_id].depends_on) for step_id in members}
        for step_id in members:
            if flow.steps[step_id].condition is None:
                add((*here, "steps", step_id, "branch"), f"step {step_id!r} of branch {branch!r} needs a condition")
            if deps[step_id] != deps[members[0]]:
                add((*here, "steps", step_id, "depends_on"),
                    f"steps of branch {branch!r} must share their dependencies ({members[0]!r} depends on "
                    f"{deps[members[0]]})")


def _unknown(what: str, name: str, known: Any) -> str:
    names = sorted(known)
    return f"unknown {what} {name!r} (defined: {', '.join(repr(n) for n in names) or 'none'})"


__all__ = ["MAX_DEPTH", "CheckedFlows", "check_flows", "path_problem"]
