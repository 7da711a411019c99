"""``providers.chat.complete`` reads the Chat Completions event stream itself: pieces, tool calls, usage, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web
from openai import AsyncOpenAI

from mobkat.errors import ProviderError
from mobkat.providers.chat import ModelReply, chat_request_body, complete, complete_body, encode_json, messages_json


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> str:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices,
                       "usage": usage})


async def serve(events: str) -> tuple[web.AppRunner, str]:
    async def handle(_request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(_request)
        await response.write(events.encode())
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1"


def call(events: str) -> tuple[ModelReply, list[str]]:
    async def run() -> tuple[ModelReply, list[str]]:
        runner, base_url = await serve(events)
        deltas: list[str] = []
        try:
            async with AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
                messages = [{"role": "user", "content": "hi"}]
                reply = await complete(client, "m", messages, [], on_text_delta=deltas.append)
        finally:
            await runner.cleanup()
        return reply, deltas

    return asyncio.run(run())


def tool_delta(arguments: str, **first: str) -> dict[str, Any]:
    function = {"arguments": arguments, **({"name": first["name"]} if "name" in first else {})}
    return {"tool_calls": [{"index": 0, **({"id": first["id"]} if "id" in first else {}), "function": function}]}


def events_of(*chunks: str) -> str:
    return "".join(f"data: {data}\n\n" for data in chunks)


def test_text_tool_calls_and_usage_are_folded_from_the_stream() -> None:
    split = chunk({"role": "assistant", "content": "Hel"})
    at = split.index(', "object"') + 1
    events = "".join([
        f"data: {split[:at]}\ndata:{split[at:]}\n\n",  # one event over two data lines (joined by a newline)
        ": a comment line\n\n",
        events_of(chunk({"content": "lo"}), chunk(tool_delta("", id="call_1", name="look")),
                  chunk(tool_delta('{"q": ')), chunk(tool_delta("1}")), chunk({}, "tool_calls"),
                  chunk(None, usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}), "[DONE]"),
    ])
    reply, deltas = call(events)
    assert reply.text == "Hello" and deltas == ["Hel", "lo"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("call_1", "look", {"q": 1})]
    assert reply.stop_reason == "tool_use"
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.total_tokens) == (3, 4, 7)


@pytest.mark.parametrize(("events", "message"), [
    ('data: {"error": {"message": "overloaded, try again"}}\n\n', "the stream reported an error: overloaded"),
    ('event: error\ndata: {"message": "bad"}\n\n', "the stream reported an error"),
    ("data: {not json\n\n", "not valid JSON"),
    ("data: [1, 2]\n\n", "not a JSON object"),
])
def test_a_stream_error_is_a_provider_error(events: str, message: str) -> None:
    with pytest.raises(ProviderError, match=message):
        call(f"data: {chunk({'content': 'partial'})}\n\n" + events)


def test_the_body_goes_out_as_encoded_on_one_kept_alive_connection_and_status_errors_are_typed() -> None:
    """``complete_body`` sends its bytes through the SDK as they are (the SDK's headers and auth on top), reads each
    stream to its end so the next call reuses the connection, and turns an HTTP error into a ``ProviderError``."""
    seen: list[tuple[bytes, str, str, object]] = []
    stream = events_of(chunk({"role": "assistant", "content": "ok"}), "[DONE]")

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        seen.append((body, request.headers["Content-Type"], request.headers["Authorization"], peer))
        if json.loads(body)["model"] == "refused":
            error = {"error": {"message": "model refused", "type": "invalid_request_error", "param": "model",
                               "code": None}}
            return web.json_response(error, status=400)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(stream.encode())
        await response.write_eof()
        return response

    async def run() -> list[str]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        texts = []
        try:
            async with AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0) as client:
                for model in ("m", "m"):
                    body = chat_request_body(model, messages_json([{"role": "user", "content": "naïve ☀"}]))
                    texts.append((await complete_body(client, model, body)).text)
                with pytest.raises(ProviderError, match=r"BadRequestError.*model refused"):
                    await complete_body(client, "refused", chat_request_body("refused", b""))
        finally:
            await runner.cleanup()
        return texts

    assert asyncio.run(run()) == ["ok", "ok"]
    expected = encode_json({"model": "m", "messages": [{"role": "user", "content": "naïve ☀"}], "stream": True,
                            "stream_options": {"include_usage": True}})
    assert [body for body, *_ in seen[:2]] == [expected, expected]
    assert {(content_type, auth) for _, content_type, auth, _ in seen} == {("application/json", "Bearer sk-test")}
    assert seen[0][3] == seen[1][3]  # the same client socket: the first stream was read to its end
