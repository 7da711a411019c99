"""Chat Completions through the unmodified openai SDK; every response parses strictly with its types."""

from __future__ import annotations

import json
import logging
import socket
import struct

import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from mobkat.simulator import Simulator, ToolRule

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_RULE = ToolRule(pattern=r"weather in (?P<city>\w+)", tool="get_weather", arguments={"city": "{city}"})


def sdk(sim: Simulator) -> OpenAI:
    return OpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0)


def strict_chunks(sim: Simulator, **params: object) -> list[ChatCompletionChunk]:
    """Stream through the SDK and validate every SSE chunk strictly with ChatCompletionChunk."""
    chunks: list[ChatCompletionChunk] = []
    with sdk(sim).chat.completions.with_streaming_response.create(stream=True, **params) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        assert line.startswith("data: ")
        chunks.append(ChatCompletionChunk.model_validate_json(line.removeprefix("data: ")))
    return chunks


def test_non_streaming_reply(sim: Simulator) -> None:
    raw = sdk(sim).chat.completions.with_raw_response.create(
        model="gpt-5-mini",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello simulator"}],
    )
    strict = ChatCompletion.model_validate_json(raw.http_response.text)
    parsed = raw.parse()
    assert strict.choices[0].message.content == parsed.choices[0].message.content == "You said: hello simulator"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.model == "gpt-5-mini"
    assert parsed.usage is not None and parsed.usage.total_tokens > 0
    assert sim.stats.chat_requests[-1]["messages"][1]["content"] == "hello simulator"


def test_streaming_reply_with_usage(sim: Simulator) -> None:
    chunks = strict_chunks(
        sim,
        model="gpt-5-mini",
        messages=[{"role": "user", "content": [{"type": "text", "text": "remember the codeword opal"}]}],
        stream_options={"include_usage": True},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Okay, I will remember: opal."
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    # and the SDK's own stream iterator sees the same text
    stream = sdk(sim).chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "remember the codeword opal"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_tool_call_and_result_round_trip(sim: Simulator) -> None:
    sim.add_tool_rule(WEATHER_RULE)
    messages: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Oslo?"}]
    raw = sdk(sim).chat.completions.with_raw_response.create(
        model="gpt-5-mini", messages=messages, tools=[WEATHER_TOOL]
    )
    first = ChatCompletion.model_validate_json(raw.http_response.text)
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "4C and snowing"},
    ]
    second = sdk(sim).chat.completions.create(model="gpt-5-mini", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Tool get_weather returned: 4C and snowing"
    assert second.choices[0].finish_reason == "stop"


def test_streamed_tool_call(sim: Simulator) -> None:
    sim.add_tool_rule(WEATHER_RULE)
    chunks = strict_chunks(
        sim,
        model="gpt-5-mini",
        messages=[{"role": "user", "content": "weather in Lisbon please"}],
        tools=[WEATHER_TOOL],
    )
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id and calls[0].function and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert json.loads(arguments) == {"city": "Lisbon"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_tool_rule_ignored_when_tool_not_offered_or_choice_none(sim: Simulator) -> None:
    sim.add_tool_rule(WEATHER_RULE)
    plain = sdk(sim).chat.completions.create(model="m", messages=[{"role": "user", "content": "weather in Rome"}])
    assert plain.choices[0].message.content == "You said: weather in Rome"
    none = sdk(sim).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "weather in Rome"}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
    )
    assert none.choices[0].message.tool_calls is None


def test_bad_requests_get_openai_style_errors(sim: Simulator) -> None:
    with pytest.raises(openai.BadRequestError, match="messages"):
        sdk(sim).chat.completions.create(model="gpt-5-mini", messages=[])
    with pytest.raises(openai.BadRequestError, match="role"):
        sdk(sim).chat.completions.create(model="gpt-5-mini", messages=[{"role": "wizard", "content": "x"}])
    with pytest.raises(openai.NotFoundError, match="does not serve"):
        sdk(sim).embeddings.create(model="text-embedding-3-small", input="x")


def test_models_are_listed(sim: Simulator) -> None:
    ids = [m.id for m in sdk(sim).models.list()]
    assert "gpt-realtime-2" in ids
    assert sdk(sim).models.retrieve("gpt-realtime-2").owned_by == "mobkat-simulator"
    with pytest.raises(openai.NotFoundError):
        sdk(sim).models.retrieve("no-such-model")


def test_a_client_that_hangs_up_mid_stream_ends_it_quietly(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """A cancelled turn (or a process exiting) closes its stream early: the simulator stops writing, with no
    "Error handling request" traceback from aiohttp (it used to print one on every such hang-up)."""
    sim.set_pace(1.0)  # the reply streams in real time: there is a middle to hang up in
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        stream = sdk(sim).chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "please tell me a long story about the sea"}],
            stream=True)
        next(iter(stream))
        stream.close()
        assert sim.stats.wait_for(lambda stats: stats.chat_streams_cut == 1, timeout=15)
    assert not [r for r in caplog.records if r.name == "aiohttp.server"], caplog.text
    assert sdk(sim).chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}])


def test_a_realtime_client_that_hangs_up_during_the_handshake_leaves_no_traceback(
        sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """A process exiting while its live channel reconnects resets the socket mid-handshake."""
    host, port = sim.base_url.removeprefix("http://").split("/")[0].split(":")
    upgrade = (f"GET /v1/realtime?model=gpt-realtime-2 HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        for _ in range(20):
            with socket.create_connection((host, int(port))) as raw:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
                raw.sendall(upgrade)
        assert sdk(sim).chat.completions.create(model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}])
    assert not [r for r in caplog.records if r.name == "aiohttp.server"], caplog.text
