"""A request/response model call over a short-lived Realtime connection (for realtime-only models)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import openai
from openai import AsyncOpenAI
from websockets.exceptions import WebSocketException

from mobkat.errors import ProviderError
from mobkat.history import Usage
from mobkat.providers.chat import ModelReply, ToolCall
from mobkat.providers.realtime_items import seed_event

CALL_TIMEOUT = 120.0


async def realtime_complete(
    client: AsyncOpenAI,
    model: str,
    instructions: str,
    items: Sequence[dict[str, Any]],
    tools: list[dict[str, Any]],
    *,
    on_text_delta: Callable[[str], None] | None = None,
) -> ModelReply:
    """Seed ``items`` (the history's seed, see :mod:`mobkat.providers.realtime_items`) into a fresh realtime
    conversation, ask for one text response, collect it."""
    try:
        return await asyncio.wait_for(
            _run(client, model, instructions, items, tools, on_text_delta), CALL_TIMEOUT
        )
    except TimeoutError:
        raise ProviderError(f"model {model!r}: realtime response did not finish within {CALL_TIMEOUT:g} s") from None
    except openai.OpenAIError as exc:
        raise ProviderError(f"model {model!r}: realtime connection failed: {exc}") from exc
    except (OSError, WebSocketException) as exc:  # refused, reset, or the socket closed mid-response
        raise ProviderError(f"model {model!r}: realtime connection failed: {exc}") from exc


async def _run(
    client: AsyncOpenAI,
    model: str,
    instructions: str,
    items: Sequence[dict[str, Any]],
    tools: list[dict[str, Any]],
    on_text_delta: Callable[[str], None] | None,
) -> ModelReply:
    async with client.realtime.connect(model=model) as conn:
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"],
                                   "audio": {"input": {"turn_detection": None}}}
        if instructions:
            session["instructions"] = instructions
        if tools:
            session["tools"] = tools
        await conn.session.update(session=session)  # type: ignore[arg-type]
        for item in items:  # as wire text: the SDK's keyword helper would transform each item (~0.35 ms)
            await conn.send_raw(seed_event(item))
        await conn.response.create()
        text: list[str] = []
        calls: list[ToolCall] = []
        async for event in conn:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
                if on_text_delta is not None:
                    on_text_delta(event.delta)
            elif event.type == "response.function_call_arguments.done":
                calls.append(ToolCall(event.call_id, event.name or "", event.arguments))
            elif event.type == "error":
                raise ProviderError(f"model {model!r}: realtime error {event.error.code}: {event.error.message}")
            elif event.type == "response.done":
                usage = Usage()
                if event.response.usage is not None:
                    u = event.response.usage
                    usage = Usage(input_tokens=u.input_tokens or 0, output_tokens=u.output_tokens or 0,
                                  total_tokens=u.total_tokens or 0)
                status = event.response.status
                if status not in (None, "completed"):
                    details = event.response.status_details
                    why = json.dumps(details.model_dump(exclude_none=True)) if details else "{}"
                    raise ProviderError(f"model {model!r}: realtime response ended {status}: {why}")
                return ModelReply("".join(text), calls, "tool_use" if calls else "end_turn", usage)
    raise ProviderError(f"model {model!r}: realtime connection closed before the response finished")
