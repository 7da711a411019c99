"""The pure parts of a flow step: templates, conditions, reply parsing, JSON-schema checks, and the
simulator's schema-shaped answers (which must pass the same checks)."""

from __future__ import annotations

import json

import pytest

from mobkat.mob.flow_render import StepFault, holds, parse_output, prompt_for, render
from mobkat.mob.flow_schema import FlowStep
from mobkat.mob.json_schema import schema_problem, validate
from mobkat.simulator.structured import structured_reply

OUTPUTS = {"write": {"writer-1": "A line.", "n": 3}, "plain": "text"}


def test_templates_fill_params_and_step_outputs() -> None:
    assert render("{{ params.topic }} / {{steps.plain.output}}", {"topic": "tides"}, OUTPUTS) == "tides / text"
    assert render("{{ steps.write.output.writer-1 }}", {}, OUTPUTS) == "A line."
    assert render("{{ steps.write }}", {}, OUTPUTS) == '{"n": 3, "writer-1": "A line."}'
    with pytest.raises(StepFault, match=r"template \{\{ params.nope \}\}: no such value"):
        render("{{ params.nope }}", {}, OUTPUTS)


def test_conditions() -> None:
    step = FlowStep.model_validate({"role": "r", "message": "m", "condition": {"op": "and", "exprs": [
        {"op": "gt", "path": "steps.write.n", "value": 2},
        {"op": "not", "expr": {"op": "in", "path": "params.mode", "values": ["off", "skip"]}}]}})
    assert step.condition is not None
    assert holds(step.condition, {"mode": "on"}, OUTPUTS)
    assert not holds(step.condition, {"mode": "off"}, OUTPUTS)
    assert not holds(step.condition, {"mode": "on"}, {})  # a path that is not there yet: false
    lt = FlowStep.model_validate({"role": "r", "message": "m", "condition": {"op": "lt", "path": "params.x",
                                                                             "value": 1}}).condition
    assert lt is not None and not holds(lt, {"x": "a string"}, {})  # incomparable: false, not an error


def test_replies_parse_as_text_or_json_without_coercion() -> None:
    assert parse_output("plain words", False) == "plain words"
    assert parse_output('Here:\n```json\n{"ok": true}\n```', True) == {"ok": True}
    assert parse_output(" [1, 2] ", True) == [1, 2]
    with pytest.raises(StepFault) as bad:
        parse_output("{ok: yes}", True)
    assert bad.value.cause == "schema_validation"


SCHEMA = {"type": "object", "required": ["verdict", "notes", "score", "tags"], "additionalProperties": False,
          "properties": {"verdict": {"enum": ["approve", "revise"]}, "notes": {"type": "string", "minLength": 3},
                         "score": {"type": "integer", "minimum": 1, "maximum": 5},
                         "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                         "extra": {"type": ["null", "boolean"]}}}


def test_json_schema_checks_name_each_problem() -> None:
    assert validate(SCHEMA, {"verdict": "approve", "notes": "fine", "score": 5, "tags": ["a", "b"]}) == []
    assert validate(SCHEMA, {"verdict": "maybe", "notes": "x", "score": 9, "tags": ["a"], "more": 1}) == [
        "$.verdict: 'maybe' is not one of ['approve', 'revise']",
        "$.notes: shorter than 3 characters", "$.score: 9 is above the maximum 5", "$.tags: fewer than 2 items",
        "$: unexpected property 'more'"]
    assert validate({"type": "integer"}, True) == ["$: expected integer, got boolean"]
    assert schema_problem([]) == "a JSON schema must be an object, got list"
    assert schema_problem({"properties": {"a": {"pattern": "("}}}) is not None


def test_the_simulator_answers_a_schema_request_with_a_matching_value() -> None:
    reply = structured_reply(prompt_for("Review the draft.", SCHEMA))
    assert reply is not None
    value = parse_output(reply, True)
    assert validate(SCHEMA, value) == []
    assert value["notes"] == "Review the draft." and value["verdict"] == "approve"
    assert structured_reply("Review the draft.") is None
    assert json.loads(json.dumps(value)) == value
