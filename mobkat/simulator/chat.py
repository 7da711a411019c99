"""``POST /v1/chat/completions``: the brain behind OpenAI's Chat Completions wire, streaming or not."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from typing import Any, Literal

from aiohttp import web
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat import chat_completion as cc
from openai.types.chat import chat_completion_chunk as chunk
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mobkat.audio import ms_for_chars
from mobkat.simulator.brain import BrainMessage, Reply, TextReply, think
from mobkat.simulator.control import SimulatorControl

ARGUMENT_CHUNK_CHARS = 24
_ids = itertools.count(1)


class ChatMessageIn(BaseModel):
    """One request message (only the fields the simulator reads; the rest is accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(p.get("text", "")) for p in self.content or [] if p.get("type") == "text")


class ChatRequest(BaseModel):
    """A chat completions request body."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None

    def offered_tools(self) -> list[str]:
        names = [
            str((t.get("function") or {}).get("name"))
            for t in self.tools or []
            if t.get("type") == "function" and (t.get("function") or {}).get("name")
        ]
        if self.tool_choice == "none":
            return []
        if isinstance(self.tool_choice, dict) and self.tool_choice.get("type") == "function":
            forced = (self.tool_choice.get("function") or {}).get("name")
            return [name for name in names if name == forced]
        return names

    def brain_messages(self) -> list[BrainMessage]:
        names: dict[str, str] = {}
        out: list[BrainMessage] = []
        for message in self.messages:
            if message.role in ("system", "developer"):
                out.append(BrainMessage(role="system", text=message.text))
            elif message.role == "user":
                out.append(BrainMessage(role="user", text=message.text))
            elif message.role == "assistant":
                if message.text:
                    out.append(BrainMessage(role="assistant", text=message.text))
                for call in message.tool_calls or []:
                    function = call.get("function") or {}
                    names[str(call.get("id"))] = str(function.get("name"))
                    out.append(
                        BrainMessage(role="tool_call", tool=function.get("name"), text=function.get("arguments", ""))
                    )
            else:
                tool = names.get(message.tool_call_id or "", message.name)
                out.append(BrainMessage(role="tool_result", tool=tool, text=message.text))
        return out


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return web.json_response(body, status=status)


def _usage(messages: list[BrainMessage], output: str) -> CompletionUsage:
    prompt = sum(len(m.text) // 4 + 1 for m in messages)
    completion = len(output) // 4 + 1
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def completion(request: ChatRequest, reply: Reply, messages: list[BrainMessage]) -> ChatCompletion:
    """The non-streaming answer."""
    number = next(_ids)
    if isinstance(reply, TextReply):
        message = ChatCompletionMessage(role="assistant", content=reply.text, refusal=None)
        finish: Literal["stop", "tool_calls"] = "stop"
        output = reply.text
    else:
        output = json.dumps(reply.arguments)
        call = ChatCompletionMessageFunctionToolCall(
            id=f"call_sim{number}", type="function", function=Function(name=reply.tool, arguments=output)
        )
        message = ChatCompletionMessage(role="assistant", content=None, refusal=None, tool_calls=[call])
        finish = "tool_calls"
    return ChatCompletion(
        id=f"chatcmpl-sim{number}",
        object="chat.completion",
        created=int(time.time()),
        model=request.model,
        choices=[cc.Choice(index=0, finish_reason=finish, message=message, logprobs=None)],
        usage=_usage(messages, output),
    )


def completion_chunks(request: ChatRequest, reply: Reply, messages: list[BrainMessage]) -> list[ChatCompletionChunk]:
    """The streamed answer, chunk by chunk (a usage chunk last if ``stream_options.include_usage``)."""
    number = next(_ids)
    created = int(time.time())

    def make(
        delta: chunk.ChoiceDelta | None, finish: Any = None, usage: CompletionUsage | None = None
    ) -> ChatCompletionChunk:
        choices = [] if delta is None else [chunk.Choice(index=0, delta=delta, finish_reason=finish, logprobs=None)]
        return ChatCompletionChunk(
            id=f"chatcmpl-sim{number}",
            object="chat.completion.chunk",
            created=created,
            model=request.model,
            choices=choices,
            usage=usage,
        )

    out: list[ChatCompletionChunk] = []
    if isinstance(reply, TextReply):
        output = reply.text
        out.append(make(chunk.ChoiceDelta(role="assistant", content="")))
        out.extend(make(chunk.ChoiceDelta(content=word)) for word in re.findall(r"\S+\s*|\s+", reply.text))
        out.append(make(chunk.ChoiceDelta(), "stop"))
    else:
        output = json.dumps(reply.arguments)
        first = chunk.ChoiceDeltaToolCall(
            index=0,
            id=f"call_sim{number}",
            type="function",
            function=chunk.ChoiceDeltaToolCallFunction(name=reply.tool, arguments=""),
        )
        out.append(make(chunk.ChoiceDelta(role="assistant", content=None, tool_calls=[first])))
        for offset in range(0, len(output), ARGUMENT_CHUNK_CHARS):
            piece = chunk.ChoiceDeltaToolCallFunction(arguments=output[offset : offset + ARGUMENT_CHUNK_CHARS])
            out.append(make(chunk.ChoiceDelta(tool_calls=[chunk.ChoiceDeltaToolCall(index=0, function=piece)])))
        out.append(make(chunk.ChoiceDelta(), "tool_calls"))
    if (request.stream_options or {}).get("include_usage"):
        out.append(make(None, usage=_usage(messages, output)))
    return out


async def handle_chat(request: web.Request, control: SimulatorControl) -> web.StreamResponse:
    """Serve one chat completion request as OpenAI would."""
    try:
        body = await request.json()
    except ValueError as exc:
        return _error(400, f"We could not parse the JSON body of your request: {exc}")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.")
    control.stats.chat_request(body)
    try:
        chat = ChatRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"])
        return _error(400, f"Invalid request: {param}: {first['msg']}", param or None)
    script = control.script
    messages = chat.brain_messages()
    reply = think(messages, chat.offered_tools(), list(script.tool_rules))
    if not chat.stream:
        return web.json_response(text=completion(chat, reply, messages).model_dump_json(exclude_unset=True))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    for index, piece in enumerate(completion_chunks(chat, reply, messages)):
        delta = piece.choices[0].delta.content if piece.choices else None
        if index and delta and script.pace:
            await asyncio.sleep(script.pace * ms_for_chars(len(delta.encode())) / 1000)
        await response.write(f"data: {piece.model_dump_json(exclude_unset=True)}\n\n".encode())
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
