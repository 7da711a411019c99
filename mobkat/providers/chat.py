"""Request/response model calls over Chat Completions (works with any OpenAI-compatible endpoint)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncAPIResponse, AsyncOpenAI

from mobkat.errors import ProviderError
from mobkat.history import (
    BlockAssistantRow,
    HistoryRow,
    StopReason,
    SystemNoticeRow,
    SystemRow,
    Usage,
    UserRow,
)


@dataclass
class ToolCall:
    call_id: str
    name: str
    arguments: str


@dataclass
class ModelReply:
    """One model call's output."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    stop_reason: StopReason = "end_turn"
    usage: Usage = field(default_factory=Usage)


def notice_text(row: SystemNoticeRow) -> str:
    """How a typed notice is shown to a model (peer messages arrive as notices)."""
    return row.body or ""


def row_to_chat_messages(row: HistoryRow) -> list[dict[str, Any]]:
    """The Chat Completions messages one history row becomes (a ``tool_results`` row: one per result).

    The dicts share the row's strings; callers that cache them must not mutate them.
    """
    if isinstance(row, UserRow):
        return [{"role": "user", "content": row.text}]
    if isinstance(row, SystemRow):
        return [{"role": "system", "content": row.content}]
    if isinstance(row, SystemNoticeRow):
        return [{"role": "user", "content": notice_text(row)}]
    if isinstance(row, BlockAssistantRow):
        message: dict[str, Any] = {"role": "assistant", "content": row.text or None}
        calls = [
            {"id": b.data["id"], "type": "function",
             "function": {"name": b.data["name"], "arguments": json.dumps(b.data["args"])}}
            for b in row.tool_uses
        ]
        if calls:
            message["tool_calls"] = calls
        return [message]
    return [{"role": "tool", "tool_call_id": result.tool_use_id, "content": result.content} for result in row.results]


def history_to_chat_messages(instructions: str, rows: Sequence[HistoryRow]) -> list[dict[str, Any]]:
    """Project canonical history into Chat Completions messages."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for row in rows:
        messages += row_to_chat_messages(row)
    return messages


_FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}


class _ChunkReader:
    """Folds streamed ``chat.completion.chunk`` dicts into one ``ModelReply`` (as leniently as the SDK reads them)."""

    def __init__(self, on_text_delta: Callable[[str], None] | None) -> None:
        self.on_text_delta = on_text_delta
        self.text: list[str] = []
        self.calls: dict[int, ToolCall] = {}
        self.finish = "stop"
        self.usage = Usage()

    def feed(self, chunk: dict[str, Any]) -> None:
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(input_tokens=usage.get("prompt_tokens") or 0,
                               output_tokens=usage.get("completion_tokens") or 0,
                               total_tokens=usage.get("total_tokens") or 0)
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                if self.on_text_delta is not None:
                    self.on_text_delta(content)
            for part in delta.get("tool_calls") or ():
                call = self.calls.setdefault(part.get("index") or 0, ToolCall("", "", ""))
                function = part.get("function") or {}
                call.call_id = part.get("id") or call.call_id
                call.name += function.get("name") or ""
                call.arguments += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def reply(self) -> ModelReply:
        ordered = [self.calls[i] for i in sorted(self.calls)]
        stop = "tool_use" if ordered else _FINISH_TO_STOP.get(self.finish, "end_turn")
        return ModelReply("".join(self.text), ordered, stop, self.usage)


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """Server-sent events as ``(event, data)`` from a response's lines (``data:`` lines joined, as the spec says)."""
    event: str | None = None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield event, "\n".join(data)


def encode_json(value: Any) -> bytes:
    """JSON as the openai SDK sends it (UTF-8, no spaces, no NaN): pieces of a request body built here."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def messages_json(messages: Sequence[dict[str, Any]]) -> bytes:
    """The inside of a request's ``messages`` array: each message's JSON, comma-separated."""
    return b",".join(encode_json(message) for message in messages)


def chat_request_body(model: str, messages: bytes, tools: Sequence[dict[str, Any]] = ()) -> bytes:
    """A streamed Chat Completions request body whose ``messages`` array holds ``messages`` (see
    :func:`messages_json`), with usage reported in the stream. The JSON is what the SDK would send."""
    parts = [b'{"model":', encode_json(model), b',"messages":[', messages,
             b'],"stream":true,"stream_options":{"include_usage":true}']
    if tools:
        parts += [b',"tools":', encode_json(list(tools))]
    parts.append(b"}")
    return b"".join(parts)


RAW_STREAM = {"X-Stainless-Raw-Response": "stream"}
"""The SDK's own switch (what ``with_streaming_response`` sets): hand back the response unread, to be streamed."""


async def complete(
    client: AsyncOpenAI,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    *,
    on_text_delta: Callable[[str], None] | None = None,
) -> ModelReply:
    """One streamed Chat Completions call; text deltas go to ``on_text_delta`` as they arrive."""
    return await complete_body(client, model, chat_request_body(model, messages_json(messages), tools),
                               on_text_delta=on_text_delta)


async def complete_body(
    client: AsyncOpenAI,
    model: str,
    body: bytes,
    *,
    on_text_delta: Callable[[str], None] | None = None,
) -> ModelReply:
    """:func:`complete` of a request body already encoded (:func:`chat_request_body`).

    The body goes through the SDK's request path as it is (``client.post(..., content=body)``: its
    headers, auth, retries, timeouts and status errors), so a turn never re-encodes the history: a
    session keeps each committed message's JSON (:class:`mobkat.session.history_log.HistoryLog`).
    ``chat.completions.create`` would run its typed-parameter transform over every message (~0.4 ms
    of CPU each) and ``json.dumps`` them all again. The stream is read from the raw response: the
    SDK's iterator builds a ``ChatCompletionChunk`` through a generic, lenient constructor (~0.1 ms
    per chunk); ``json.loads`` of the same event is ~100x less (benchmarks/, docs/performance.md).
    """
    reader = _ChunkReader(on_text_delta)
    try:
        response = await client.post("/chat/completions", cast_to=object, content=body,
                                     options={"headers": RAW_STREAM})
        if not isinstance(response, AsyncAPIResponse):
            raise ProviderError(f"model {model!r}: the openai SDK did not hand back a streamed response")
        try:
            done = False
            async for event, data in sse_events(response.iter_lines()):
                # read on past [DONE] to the end of the body: a response left unread costs its connection
                # (the next call would open a new one); the SDK's own iterator drains it too
                if done or data.startswith("[DONE]"):
                    done = True
                    continue
                chunk = json.loads(data)
                if not isinstance(chunk, dict):
                    raise ProviderError(f"model {model!r}: a stream event is not a JSON object: {data[:200]}")
                if event == "error" or chunk.get("error"):
                    error = chunk.get("error")
                    message = error.get("message") if isinstance(error, dict) else error or data[:200]
                    raise ProviderError(f"model {model!r}: the stream reported an error: {message}")
                reader.feed(chunk)
        finally:
            await response.close()
    except openai.APIError as exc:
        raise ProviderError(f"model {model!r}: {type(exc).__name__}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ProviderError(f"model {model!r}: a stream event is not valid JSON: {exc}") from exc
    return reader.reply()
