"""The deterministic reply rules and tool rule templates."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mobkat.simulator import BrainMessage, SimulatorScript, TextReply, ToolCallReply, ToolRule, think


def user(text: str) -> BrainMessage:
    return BrainMessage(role="user", text=text)


def test_default_reply_echoes_the_last_user_text() -> None:
    assert think([user("first"), BrainMessage(role="assistant", text="x"), user("hello there ")]) == TextReply(
        text="You said: hello there"
    )
    assert think([]) == TextReply(text="Hello.")


def test_memory_remember_then_recall() -> None:
    said = [user("Remember the codeword amber lantern.")]
    assert think(said) == TextReply(text="Okay, I will remember: amber lantern.")
    convo = [*said, BrainMessage(role="assistant", text="ok"), user("What was the codeword?")]
    assert think(convo) == TextReply(text="You asked me to remember: amber lantern.")
    assert think([user("please recall it")]) == TextReply(text="I have nothing to recall.")
    assert think([user("remember: buy milk"), user("remember blue"), user("Do you remember?")]) == TextReply(
        text="You asked me to remember: blue."
    )


def test_tool_rule_fills_templates_from_groups() -> None:
    rule = ToolRule(
        pattern=r"weather in (?P<city>\w+)(?: on (\w+))?",
        tool="get_weather",
        arguments={"city": "{city}", "day": "{2}", "raw": "{0}", "all": "{input}", "n": 3, "nested": ["{1}"]},
    )
    reply = think([user("What's the WEATHER in Paris on monday?")], ["get_weather"], [rule])
    assert reply == ToolCallReply(
        tool="get_weather",
        arguments={
            "city": "Paris",
            "day": "monday",
            "raw": "WEATHER in Paris on monday",
            "all": "What's the WEATHER in Paris on monday?",
            "n": 3,
            "nested": ["Paris"],
        },
    )


def test_tool_rules_need_the_tool_offered_and_never_loop() -> None:
    rule = ToolRule(pattern="weather", tool="get_weather")
    assert think([user("weather?")], [], [rule]) == TextReply(text="You said: weather?")
    called = [user("weather?"), BrainMessage(role="tool_call", tool="get_weather", text="{}")]
    assert think(called, ["get_weather"], [rule]) == TextReply(text="You said: weather?")
    result = [*called, BrainMessage(role="tool_result", tool="get_weather", text="sunny")]
    assert think(result, ["get_weather"], [rule]) == TextReply(text="Tool get_weather returned: sunny")
    # a new user message may call the tool again, unless the rule is `once`
    again = [*result, BrainMessage(role="assistant", text="sunny"), user("weather again")]
    assert isinstance(think(again, ["get_weather"], [rule]), ToolCallReply)
    once = ToolRule(pattern="weather", tool="get_weather", once=True)
    assert think(again, ["get_weather"], [once]) == TextReply(text="You said: weather again")


def test_first_matching_offered_rule_wins() -> None:
    rules = [
        ToolRule(pattern="x", tool="a"),
        ToolRule(pattern="x", tool="b"),
        ToolRule(pattern="x", tool="c"),
    ]
    assert think([user("x")], ["b", "c"], rules) == ToolCallReply(tool="b")


def test_bad_rules_are_rejected_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        ToolRule(pattern="(unclosed", tool="t")
    with pytest.raises(ValidationError, match=r"uses \{city\}"):
        ToolRule(pattern=r"in (\w+)", tool="t", arguments={"city": "{city}"})
    with pytest.raises(ValidationError, match=r"uses \{2\}"):
        ToolRule(pattern=r"in (\w+)", tool="t", arguments={"x": "{2}"})
    assert ToolRule(pattern=r"in (\w+)", tool="t", arguments={"x": "{{literal}} {1}"}).match("in Rome") == {
        "x": "{literal} Rome"
    }


def test_script_defaults() -> None:
    script = SimulatorScript()
    assert script.tool_rules == []
    assert script.pace == 0
    assert script.faults.drop_after_events is None
    with pytest.raises(ValidationError):
        SimulatorScript(pace=-1)
