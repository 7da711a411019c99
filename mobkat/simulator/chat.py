"""``POST /v1/chat/completions``: the brain behind OpenAI's Chat Completions wire, streaming or not."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass
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
from mobkat.simulator.brain import BrainMessage, Reply, Role, TextReply, think
from mobkat.simulator.control import SimulatorControl
from mobkat.simulator.stats import ChatServed

ARGUMENT_CHUNK_CHARS = 24
_ids = itertools.count(1)

log = logging.getLogger(__name__)


ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_ROLE_CHOICES = "'system', 'developer', 'user', 'assistant', 'tool' or 'function'"


class RequestError(Exception):
    """A request the real API would refuse with 400; ``param`` names the field (``messages.3.role``)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatPrompt:
    """A request's messages as the brain reads them, and the prompt's token count (4 characters a token)."""

    messages: list[BrainMessage]
    prompt_tokens: int


def _parts_text(content: Any, index: int) -> str:
    """The text of a content that is not a plain string (``None`` or a list of parts)."""
    if content is None:
        return ""
    if not isinstance(content, list):
        raise RequestError("Input should be a valid string or a list of content parts", f"messages.{index}.content")
    texts = []
    for number, part in enumerate(content):
        if not isinstance(part, dict):
            raise RequestError("Input should be a valid dictionary", f"messages.{index}.content.{number}")
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
    return "\n".join(texts)


_SPEAKERS: dict[Any, Role] = {"system": "system", "developer": "system", "user": "user"}


def read_messages(messages: list[Any]) -> ChatPrompt:
    """Check the request's messages as the API does (an object with a known role, string or part-list content, a
    ``tool_call_id`` on tool results) and read them for the brain: one pass, no model per message."""
    names: dict[str, str] = {}
    out: list[BrainMessage] = []
    append = out.append
    new = tuple.__new__  # BrainMessage(...) through the NamedTuple's Python __new__ costs 2x as much
    tokens = 0
    for index, message in enumerate(messages):
        if type(message) is not dict:
            raise RequestError("Input should be a valid dictionary", f"messages.{index}")
        role = message.get("role")
        content = message.get("content")
        text = content if type(content) is str else _parts_text(content, index)
        speaker = _SPEAKERS.get(role)
        if speaker is not None:
            append(new(BrainMessage, (speaker, text, None)))
            tokens += len(text) // 4 + 1
        elif role == "assistant":
            if text:
                append(new(BrainMessage, ("assistant", text, None)))
                tokens += len(text) // 4 + 1
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                raise RequestError("Input should be a valid list", f"messages.{index}.tool_calls")
            for call in calls:
                function = (call.get("function") if isinstance(call, dict) else None) or {}
                names[str(call.get("id"))] = str(function.get("name"))
                arguments = str(function.get("arguments", ""))
                append(BrainMessage("tool_call", arguments, function.get("name")))
                tokens += len(arguments) // 4 + 1
        elif role in ("tool", "function"):
            call_id = message.get("tool_call_id")
            if role == "tool" and not isinstance(call_id, str):
                raise RequestError("Field required", f"messages.{index}.tool_call_id")
            append(BrainMessage("tool_result", text, names.get(call_id or "", message.get("name"))))
            tokens += len(text) // 4 + 1
        else:
            raise RequestError(f"Input should be {_ROLE_CHOICES}", f"messages.{index}.role")
    return ChatPrompt(out, tokens)


class ChatRequest(BaseModel):
    """A chat completions request body. ``messages`` are checked by :func:`read_messages`, in one pass."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Any] = Field(min_length=1)
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
        """The messages as the brain reads them (raises :class:`RequestError` on a malformed one)."""
        return read_messages(self.messages).messages


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}}
    return web.json_response(body, status=status)


def _usage(prompt: int, output: str) -> CompletionUsage:
    completion = len(output) // 4 + 1
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion)


def completion(request: ChatRequest, reply: Reply, conversation: ChatPrompt) -> ChatCompletion:
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
        usage=_usage(conversation.prompt_tokens, output),
    )


def completion_chunks(request: ChatRequest, reply: Reply, conversation: ChatPrompt) -> list[ChatCompletionChunk]:
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
        out.append(make(None, usage=_usage(conversation.prompt_tokens, output)))
    return out


async def handle_chat(request: web.Request, control: SimulatorControl) -> web.StreamResponse:
    """Serve one chat completion request as OpenAI would. The body is parsed once (``json.loads``); the
    messages are checked and read in one pass (:func:`read_messages`)."""
    raw = await request.read()
    parsing_at = time.monotonic()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return _error(400, f"We could not parse the JSON body of your request: {exc}")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.")
    control.stats.chat_request(body)
    try:
        chat = ChatRequest.model_validate(body)
        conversation = read_messages(chat.messages)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"])
        return _error(400, f"Invalid request: {param}: {first['msg']}", param or None)
    except RequestError as exc:
        return _error(400, f"Invalid request: {exc.param}: {exc}", exc.param)
    script = control.script
    reply = think(conversation.messages, chat.offered_tools(), list(script.tool_rules))
    if not chat.stream:
        answer = web.json_response(text=completion(chat, reply, conversation).model_dump_json(exclude_unset=True))
        control.stats.chat_done(ChatServed(parsing_at, time.monotonic(), len(raw)))  # the body is ready to send
        return answer
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    pieces = completion_chunks(chat, reply, conversation)
    events = [f"data: {piece.model_dump_json(exclude_unset=True)}\n\n".encode() for piece in pieces]
    try:
        await response.prepare(request)
        if script.pace:
            for index, (piece, event) in enumerate(zip(pieces, events, strict=True)):
                delta = piece.choices[0].delta.content if piece.choices else None
                if index and delta:
                    await asyncio.sleep(script.pace * ms_for_chars(len(delta.encode())) / 1000)
                await response.write(event)
        else:  # as fast as possible: the whole stream in one write
            await response.write(b"".join(events))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionResetError as exc:  # the client hung up mid-stream (cancelled turn, process exit)
        log.debug("chat stream to a client that went away ends early: %s", exc)
        control.stats.chat_stream_cut()
        return response
    control.stats.chat_done(ChatServed(parsing_at, time.monotonic(), len(raw)))
    return response
