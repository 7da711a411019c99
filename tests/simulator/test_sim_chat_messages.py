"""How the simulator reads a chat request's messages: checked as the API checks them, in one pass."""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI

from mobkat.simulator import BrainMessage, Simulator
from mobkat.simulator.chat import RequestError, read_messages


def sdk(sim: Simulator) -> OpenAI:
    return OpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0)


def test_messages_are_read_for_the_brain_with_the_prompt_size() -> None:
    prompt = read_messages([
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "weather"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ])
    assert prompt.messages == [BrainMessage("system", "be brief"), BrainMessage("user", "weather"),
                               BrainMessage("tool_call", "{}", "lookup"),
                               BrainMessage("tool_result", "sunny", "lookup")]
    assert prompt.prompt_tokens == sum(len(m.text) // 4 + 1 for m in prompt.messages)


@pytest.mark.parametrize(("messages", "param", "message"), [
    ([{"role": "wizard", "content": "x"}], "messages.0.role", "Input should be 'system'"),
    ([{"role": "user", "content": "x"}, "not an object"], "messages.1", "valid dictionary"),
    ([{"role": "user", "content": 5}], "messages.0.content", "string or a list"),
    ([{"role": "user", "content": ["x"]}], "messages.0.content.0", "valid dictionary"),
    ([{"role": "tool", "content": "x"}], "messages.0.tool_call_id", "Field required"),
    ([{"role": "assistant", "tool_calls": "x"}], "messages.0.tool_calls", "valid list"),
])
def test_malformed_messages_are_refused_naming_the_field(messages: list[object], param: str, message: str) -> None:
    with pytest.raises(RequestError, match=message) as caught:
        read_messages(messages)
    assert caught.value.param == param


def test_a_malformed_message_is_a_400_naming_it(sim: Simulator) -> None:
    with pytest.raises(openai.BadRequestError, match=r"messages\.1\.tool_call_id") as caught:
        sdk(sim).chat.completions.create(model="gpt-5-mini", messages=[
            {"role": "user", "content": "x"}, {"role": "tool", "content": "orphan"}])  # type: ignore[list-item]
    assert caught.value.body["param"] == "messages.1.tool_call_id"  # type: ignore[index]


def test_a_long_conversation_is_answered_and_timed(sim: Simulator) -> None:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i}"} for i in range(20_000)]
    messages.append({"role": "user", "content": "remember the codeword opal"})
    reply = sdk(sim).chat.completions.create(model="gpt-5-mini", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Okay, I will remember: opal."
    served = sim.stats.chat_served[-1]
    assert served.body_bytes > len(json.dumps(messages, separators=(",", ":"))) and 0 < served.seconds < 5


def test_a_streamed_request_is_found_by_its_number_once_recorded(sim: Simulator) -> None:
    """A streamed answer's record is written a moment after the client has its last byte:
    ``chat_served_number(n)`` waits for the n-th and returns that one, not the one before."""
    client = sdk(sim)
    before = sim.stats.chats_served
    sizes = []
    for number, text in enumerate(("short", "a somewhat longer question"), start=before + 1):
        for _chunk in client.chat.completions.create(model="gpt-5-mini", stream=True,
                                                     messages=[{"role": "user", "content": text}]):
            pass
        served = sim.stats.chat_served_number(number)
        assert served.seconds > 0
        sizes.append(served.body_bytes)
    assert sizes[1] - sizes[0] == len("a somewhat longer question") - len("short")
    assert sim.stats.chats_served == before + 2
    with pytest.raises(TimeoutError, match=f"has not served chat request {before + 3}"):
        sim.stats.chat_served_number(before + 3, timeout=0.1)
