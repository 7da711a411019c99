"""``[flows.*]`` in a definition: what loads, and every problem as ``file:line: key: problem``; upstream-only
keys load with a warning naming ``file:line: key``, while any other unknown key stays an error."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.errors import ConfigError
from mobkat.mob import MobDefinition
from mobkat.mob.upstream_keys import UpstreamKeyWarning
from tests.mob.test_definition_cli import validate
from tests.mob.test_definition_errors import expect, line

ROOT = Path(__file__).resolve().parents[2]
HEAD = """[mob]
id = "writers"

[profiles.writer]
model = "gpt-5.5"
runtime_mode = "turn_driven"

[profiles.checker]
model = "gpt-5.5"
runtime_mode = "turn_driven"
"""
FLOW = HEAD + """
[flows.review]
description = "write a line, then check it"

[flows.review.steps.write]
role = "writer"
message = "Write one line about {{ params.topic }}."

[flows.review.steps.check]
role = "checker"
message = "Check this line: {{ steps.write.output }}"
depends_on = ["write"]
"""


def load(tmp_path: Path, text: str) -> MobDefinition:
    path = tmp_path / "mob.toml"
    path.write_text(text, encoding="utf-8")
    return MobDefinition.from_toml(path)


def test_upstream_flow_loads_in_authoring_order_and_round_trips_through_json(tmp_path: Path) -> None:
    definition = load(tmp_path, FLOW)
    flow = definition.flows["review"]
    assert list(flow.steps) == ["write", "check"]
    assert flow.steps["check"].depends_on == ["write"] and flow.steps["write"].timeout_ms == 30_000
    again = MobDefinition.from_dict(definition.to_json())
    assert again.flows == definition.flows and again.warnings == []


def test_a_dependency_cycle_is_named_with_its_line(tmp_path: Path) -> None:
    text = FLOW.replace('message = "Write one line about {{ params.topic }}."',
                        'message = "Write one line."\ndepends_on = ["check"]')
    expect(tmp_path, text, 'depends_on = ["check"]', "flows.review.steps.write.depends_on",
           "dependency cycle: write -> check -> write")


def test_a_step_depending_on_itself_is_a_cycle(tmp_path: Path) -> None:
    text = FLOW.replace('depends_on = ["write"]', 'depends_on = ["check"]')
    expect(tmp_path, text, 'depends_on = ["check"]', "flows.review.steps.check.depends_on",
           "dependency cycle: check -> check")


def test_an_unknown_dependency_is_named(tmp_path: Path) -> None:
    text = FLOW.replace('depends_on = ["write"]', 'depends_on = ["wrote"]').replace(
        "{{ steps.write.output }}", "{{ params.line }}")
    expect(tmp_path, text, 'depends_on = ["wrote"]', "flows.review.steps.check.depends_on[0]",
           "unknown step 'wrote' (defined: 'check', 'write')")


def test_an_unknown_role_is_named(tmp_path: Path) -> None:
    text = FLOW.replace('role = "checker"', 'role = "checkr"')
    expect(tmp_path, text, 'role = "checkr"', "flows.review.steps.check.role",
           "unknown profile 'checkr' (defined: 'checker', 'writer')")


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = FLOW.replace('role = "checker"', 'role = "checkr"').replace(
        'depends_on = ["write"]', 'depends_on = ["wrote"]').replace("{{ steps.write.output }}", "{{ stesp.x }}")
    exc = expect(tmp_path, text, 'role = "checkr"', "flows.review.steps.check.role", "unknown profile...")
    others = "\n".join(exc.details["other_problems"])
    assert "flows.review.steps.check.depends_on[0]: unknown step 'wrote'" in others
    assert "flows.review.steps.check.message: template {{ stesp.x }}: unknown root 'stesp'" in others


def test_templates_and_conditions_must_read_params_or_declared_steps(tmp_path: Path) -> None:
    text = FLOW.replace("{{ steps.write.output }}", "{{ steps.draft.output }}")
    expect(tmp_path, text, "steps.draft.output", "flows.review.steps.check.message",
           "template { steps.draft.output }: unknown step 'draft' (defined: 'check', 'write')".replace(
               "{ steps", "{{ steps").replace("output }", "output }}"))
    text = FLOW + 'condition = { op = "eq", path = "stpes.write", value = 1 }\n'
    expect(tmp_path, text, "stpes.write", "flows.review.steps.check.condition",
           "path 'stpes.write': unknown root 'stpes' (use params.<name> or steps.<step>.output)")


def test_branch_groups_need_two_steps_with_conditions_and_shared_dependencies(tmp_path: Path) -> None:
    text = FLOW + 'branch = "pick"\n'
    expect(tmp_path, text, 'branch = "pick"', "flows.review.steps.check.branch",
           "branch 'pick' has a single step; a branch group needs at least two")


def test_quorum_zero_and_bad_schemas_are_errors(tmp_path: Path) -> None:
    text = FLOW + 'collection_policy = { type = "quorum", n = 0 }\n'
    expect(tmp_path, text, "quorum", "flows.review.steps.check.collection_policy", "quorum n must be at least 1")
    text = FLOW + "expected_schema_ref = '{\"type\": \"strng\"}'\n"
    expect(tmp_path, text, "expected_schema_ref", "flows.review.steps.check.expected_schema_ref",
           "unknown JSON schema type 'strng' (types: array, boolean, integer, null, number, object, string)")
    text = HEAD.replace('[profiles.checker]\n', '[profiles.checker]\noutput_schema = { type = "objct" }\n')
    expect(tmp_path, text, "output_schema", "profiles.checker.output_schema", "unknown JSON schema type...")


def test_an_unknown_step_key_stays_an_error(tmp_path: Path) -> None:
    text = FLOW + 'retries = 3\n'
    expect(tmp_path, text, "retries = 3", "flows.review.steps.check.retries", "unknown key...")


def test_a_schema_file_is_read_relative_to_the_definition(tmp_path: Path) -> None:
    (tmp_path / "verdict.json").write_text('{"type": "object", "required": ["ok"]}', encoding="utf-8")
    definition = load(tmp_path, FLOW + 'expected_schema_ref = "verdict.json"\n')
    assert definition.step_schema("review", "check") == {"type": "object", "required": ["ok"]}
    assert definition.step_schema("review", "write") is None


UPSTREAM = HEAD.replace('runtime_mode = "turn_driven"\n', 'runtime_mode = "turn_driven"\n'
                        "max_inline_peer_notifications = 10\n", 1) + """
[profiles.writer.tools]
comms = true
mcp = ["search"]

[topology]
mode = "strict"
rules = [{ from_role = "writer", to_role = "checker", allowed = true }]

[spawn_policy]
mode = "auto"
profile_map = { guest = "writer" }

[flows.review.steps.write]
role = "writer"
message = "Write."
allowed_tools = ["send_message"]
"""


def test_upstream_only_keys_load_with_a_warning_naming_each(tmp_path: Path) -> None:
    path = tmp_path / "mob.toml"
    with pytest.warns(UpstreamKeyWarning) as caught:
        definition = load(tmp_path, UPSTREAM)
    expected = [
        f"{path}:{line(UPSTREAM, 'max_inline_peer_notifications')}: profiles.writer.max_inline_peer_notifications:",
        f"{path}:{line(UPSTREAM, 'mcp = ')}: profiles.writer.tools.mcp:",
        f"{path}:{line(UPSTREAM, '[topology]')}: topology:",
        f"{path}:{line(UPSTREAM, '[spawn_policy]')}: spawn_policy:",
        f"{path}:{line(UPSTREAM, 'allowed_tools')}: flows.review.steps.write.allowed_tools:",
    ]
    assert [w.split(" upstream key")[0] for w in definition.warnings] == expected
    assert all("not implemented by mobkat" in w and w.endswith("ignored") for w in definition.warnings)
    assert [str(w.message) for w in caught] == definition.warnings
    assert definition.profiles["writer"].tools.comms and definition.flows["review"].steps["write"].message == "Write."


def test_upstream_keys_in_the_json_form_warn_without_a_line() -> None:
    with pytest.warns(UpstreamKeyWarning):
        definition = MobDefinition.from_dict({"id": "j", "profiles": {"p": {"model": "gpt-5.5",
                                                                          "tools": {"mcp": ["x"]}}},
                                              "topology": {"mode": "advisory"}})
    assert definition.warnings == [
        "<json>: profiles.p.tools.mcp: upstream key not implemented by mobkat (MCP server allow-list); ignored",
        "<json>: topology: upstream key not implemented by mobkat (role-to-role policy for flow dispatch); ignored",
    ]


def test_other_unknown_keys_stay_strict_next_to_upstream_ones(tmp_path: Path) -> None:
    text = UPSTREAM + '\n[flavours]\nmint = true\n'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UpstreamKeyWarning)
        expect(tmp_path, text, "[flavours]", "flavours", "unknown key...")


def test_the_example_flow_definition_loads_without_warnings() -> None:
    definition = MobDefinition.from_toml(ROOT / "mobs" / "flow-demo.toml")
    assert definition.warnings == [] and list(definition.flows) == ["main"]
    assert list(definition.flows["main"].steps) == ["research", "draft", "review"]
    assert definition.step_schema("main", "review") == definition.profiles["reviewer"].output_schema


def test_json_output_without_a_schema_is_a_warning(tmp_path: Path) -> None:
    text = FLOW + 'output_format = "json"\n'
    definition = load(tmp_path, text)
    assert len(definition.warnings) == 1
    assert definition.warnings[0].startswith(f"{tmp_path / 'mob.toml'}:{line(text, 'output_format')}: "
                                             "flows.review.steps.check.output_format: ")


def test_a_config_error_is_still_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"<json>: flows.f: a flow needs at least one step"):
        MobDefinition.from_dict({"id": "j", "profiles": {"p": {"model": "gpt-5.5"}}, "flows": {"f": {}}})


def test_the_json_form_round_trips_conditions_on_null() -> None:
    flows = {"f": {"steps": {"a": {"role": "p", "message": "m",
                                   "condition": {"op": "not", "expr": {"op": "eq", "path": "params.x", "value": None}}},
                             "b": {"role": "p", "message": "{{ steps.a.output }}", "depends_on": ["a"],
                                   "collection_policy": {"type": "quorum", "n": 1}}}}}
    definition = MobDefinition.from_dict({"id": "j", "profiles": {"p": {"model": "gpt-5.5"}}, "flows": flows,
                                          "limits": {"max_step_retries": 2}})
    again = MobDefinition.from_dict(definition.to_json())
    assert again.flows == definition.flows and again.limits == definition.limits


def test_mobkat_validate_prints_each_warning_and_exits_0(tmp_path: Path) -> None:
    (tmp_path / "up.toml").write_text(UPSTREAM, encoding="utf-8")
    result = validate(tmp_path, "up.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "up.toml: ok — mob 'writers', 2 profiles, 2 members, no orchestrator, 1 flow (review)\n"
    warned = result.stderr.splitlines()
    assert len(warned) == 5 and all(line.startswith("mobkat validate: warning: up.toml:") for line in warned)
    assert warned[2] == (f"mobkat validate: warning: up.toml:{line(UPSTREAM, '[topology]')}: topology: upstream key "
                         "not implemented by mobkat (role-to-role policy for flow dispatch); ignored")
    data = json.loads(validate(tmp_path, "up.toml", "--json").stdout)
    assert [w.split(": ")[1] for w in data["warnings"]] == [
        "profiles.writer.max_inline_peer_notifications", "profiles.writer.tools.mcp", "topology", "spawn_policy",
        "flows.review.steps.write.allowed_tools"]
    assert "topology" not in data["definition"] and data["definition"]["flows"]["review"]["steps"]["write"]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=8).flatmap(lambda n: st.tuples(
    st.just(n), st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20))))
def test_forward_dependencies_load_and_a_back_edge_is_always_a_cycle(case: tuple[int, set[tuple[int, int]]]) -> None:
    """Steps s0..sN: edges to earlier steps form a DAG (loads); adding s0 -> the last step of a chain from s0
    closes a cycle, which is reported at a step of it."""
    n, pairs = case
    deps: dict[int, set[int]] = {i: set() for i in range(n)}
    for a, b in pairs:
        if a != b:
            deps[max(a, b)].add(min(a, b))  # a later step depends on an earlier one: acyclic

    def body(extra: tuple[int, int] | None) -> dict[str, object]:
        steps = {f"s{i}": {"role": "p", "message": "m", "depends_on": sorted(f"s{d}" for d in deps[i] | (
            {extra[1]} if extra and extra[0] == i else set()))} for i in range(n)}
        return {"id": "h", "profiles": {"p": {"model": "gpt-5.5"}}, "flows": {"f": {"steps": steps}}}

    assert list(MobDefinition.from_dict(body(None)).flows["f"].steps) == [f"s{i}" for i in range(n)]
    reach = {0}
    for i in range(1, n):  # the steps that depend, directly or not, on s0
        if deps[i] & reach:
            reach.add(i)
    last = max(reach)
    with pytest.raises(ConfigError) as caught:
        MobDefinition.from_dict(body((0, last)))
    problems = [str(caught.value), *caught.value.details["other_problems"]]
    assert any("dependency cycle: " in p and ("s0" in p) for p in problems), problems
