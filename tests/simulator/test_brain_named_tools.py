"""The simulated model calls an offered tool the user names (how callback tools are exercised offline)."""

from __future__ import annotations

from mobkat.simulator.brain import BrainMessage, TextReply, ToolCallReply, think
from mobkat.simulator.script import ToolRule


def test_a_named_offered_tool_is_called_with_the_texts_key_value_pairs() -> None:
    said = [BrainMessage("user", 'Please use the lookup_order tool for order_id=42, note="rush it".')]
    assert think(said, ["lookup_order"]) == ToolCallReply(tool="lookup_order",
                                                          arguments={"order_id": "42", "note": "rush it"})
    assert think([BrainMessage("user", "call `lookup_order` now")], ["other", "lookup_order"]) == ToolCallReply(
        tool="lookup_order")


def test_naming_without_a_verb_an_unoffered_tool_or_a_second_call_is_plain_text() -> None:
    assert think([BrainMessage("user", "lookup_order is a tool")], ["lookup_order"]) == TextReply(
        text="You said: lookup_order is a tool")
    assert isinstance(think([BrainMessage("user", "use the lookup_order tool")], ["weather"]), TextReply)
    assert isinstance(think([BrainMessage("user", "use the lookup_orders tool")], ["lookup_order"]), TextReply)
    called = [BrainMessage("user", "use the lookup_order tool"), BrainMessage("tool_call", "", "lookup_order"),
              BrainMessage("tool_result", "shipped", "lookup_order")]
    assert think(called, ["lookup_order"]) == TextReply(text="Tool lookup_order returned: shipped")


def test_a_tool_rule_wins_over_a_named_tool() -> None:
    rule = ToolRule(pattern=r"weather in (?P<city>\w+)", tool="weather", arguments={"city": "{city}"})
    said = [BrainMessage("user", "use the lookup_order tool, and the weather in Oslo")]
    assert think(said, ["lookup_order", "weather"], [rule]) == ToolCallReply(tool="weather", arguments={"city": "Oslo"})
