"""Request/response model calls over Chat Completions (works with any OpenAI-compatible endpoint)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from mobkat.errors import ProviderError
from mobkat.history import (
    BlockAssistantRow,
    HistoryRow,
    StopReason,
    SystemNoticeRow,
    SystemRow,
    ToolResultsRow,
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


def history_to_chat_messages(instructions: str, rows: Sequence[HistoryRow]) -> list[dict[str, Any]]:
    """Project canonical history into Chat Completions messages."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for row in rows:
        if isinstance(row, UserRow):
            messages.append({"role": "user", "content": row.text})
        elif isinstance(row, SystemRow):
            messages.append({"role": "system", "content": row.content})
        elif isinstance(row, SystemNoticeRow):
            messages.append({"role": "user", "content": notice_text(row)})
        elif isinstance(row, BlockAssistantRow):
            message: dict[str, Any] = {"role": "assistant", "content": row.text or None}
            calls = [
                {"id": b.data["id"], "type": "function",
                 "function": {"name": b.data["name"], "arguments": json.dumps(b.data["args"])}}
                for b in row.tool_uses
            ]
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
        elif isinstance(row, ToolResultsRow):
            for result in row.results:
                messages.append({"role": "tool", "tool_call_id": result.tool_use_id, "content": result.content})
    return messages


_FINISH_TO_STOP: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "content_filter",
}


async def complete(
    client: AsyncOpenAI,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    *,
    on_text_delta: Callable[[str], None] | None = None,
) -> ModelReply:
    """One streamed Chat Completions call; text deltas go to ``on_text_delta`` as they arrive."""
    # The messages travel in ``extra_body``: the SDK's typed-parameter transform walks every message
    # (~0.4 ms of CPU each, on the one I/O loop); the JSON sent is the same (benchmarks/, docs/performance.md).
    kwargs: dict[str, Any] = {"model": model, "messages": [], "extra_body": {"messages": messages}, "stream": True,
                              "stream_options": {"include_usage": True}}
    if tools:
        kwargs["tools"] = tools
    text_parts: list[str] = []
    calls: dict[int, ToolCall] = {}
    finish = "stop"
    usage = Usage()
    try:
        stream = await client.chat.completions.create(**kwargs)
        async for chunk in stream:
            if chunk.usage is not None:
                usage = Usage(input_tokens=chunk.usage.prompt_tokens, output_tokens=chunk.usage.completion_tokens,
                              total_tokens=chunk.usage.total_tokens)
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text_parts.append(delta.content)
                    if on_text_delta is not None:
                        on_text_delta(delta.content)
                for tc in delta.tool_calls or []:
                    call = calls.setdefault(tc.index, ToolCall("", "", ""))
                    if tc.id:
                        call.call_id = tc.id
                    if tc.function and tc.function.name:
                        call.name += tc.function.name
                    if tc.function and tc.function.arguments:
                        call.arguments += tc.function.arguments
                if choice.finish_reason:
                    finish = choice.finish_reason
    except openai.APIError as exc:
        raise ProviderError(f"model {model!r}: {type(exc).__name__}: {exc}") from exc
    ordered = [calls[i] for i in sorted(calls)]
    stop = _FINISH_TO_STOP.get(finish, "end_turn")
    if ordered:
        stop = "tool_use"
    return ModelReply("".join(text_parts), ordered, stop, usage)
