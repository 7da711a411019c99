"""Callback tools: ``tools/register`` and the ``tool/execute`` requests the server sends back to the client.

A client registers tools it implements itself (upstream's ``@client.tool``). Every session of the server
then offers them (``SessionServices.shared_tools``; a session's own tool of the same name wins), in
request/response and live turns alike, mob members included. When the model calls one, the server sends
``{"id": "srv-N", "method": "tool/execute", "params": {"tool_use_id", "name", "arguments"}}`` on the
connection that registered it and waits for ``{"result": {"content": <text or blocks>, "is_error": bool}}``.
Timeout (default 120 s, per tool ``timeout_ms``), a JSON-RPC error reply, or the client disconnecting
mid-call each become an error result the model sees; the turn itself ends normally. A tool leaves the
registry when its connection closes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mobkat.errors import InvalidInputError
from mobkat.rpc.registry import Ask, Call, MethodRegistry
from mobkat.session.tools import Tool, ToolOutcome, ToolRegistry
from mobkat.wire.session import _Params

DEFAULT_TIMEOUT_S = 120.0
"""Upstream's callback tool timeout."""
TOOL_NAME = r"^[A-Za-z0-9_-]{1,64}$"
MAX_CALLBACK_TOOLS = 128
"""Callback tools registered on one server at once (every session offers them all to its model)."""
MAX_DESCRIPTION_CHARS = 4096


class CallbackToolSpec(BaseModel):
    """One tool of ``tools/register`` (upstream's ``{name, description, input_schema, execution?}``)."""

    model_config = ConfigDict(extra="ignore")  # upstream's private ``execution`` contract is ignored

    name: str = Field(pattern=TOOL_NAME)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    timeout_ms: int | None = Field(default=None, ge=1, le=3_600_000)
    """mobkat extension: how long the client may take (default 120 000)."""


class ToolsRegisterParams(_Params):
    tools: list[CallbackToolSpec] = Field(max_length=MAX_CALLBACK_TOOLS)


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


class RawToolResult(BaseModel):
    """The client's ``tool/execute`` result: ``content`` text (or content blocks) and ``is_error``."""

    model_config = ConfigDict(extra="ignore")

    content: str | list[dict[str, Any]] | None = ""
    is_error: bool = False


def register(registry: MethodRegistry) -> None:
    registry.family("tools", "Callback tools the client implements: tools/register").add(
        "tools/register", ToolsRegisterParams, tools_register)


async def tools_register(call: Call, params: ToolsRegisterParams) -> dict[str, Any]:
    """Offer the client's tools to every session (replacing same-named ones); ``{"registered": n}``."""
    if call.ask is None:
        raise InvalidInputError("tools/register needs a connection the server can send requests back on",
                                details={"method": "tools/register"})
    shared = call.host.services.shared_tools
    added = {spec.name for spec in params.tools} - set(shared.names())
    if len(shared) + len(added) > MAX_CALLBACK_TOOLS:
        raise InvalidInputError(
            f"tools/register: {len(shared)} callback tools are registered and {len(added)} more would pass the "
            f"limit of {MAX_CALLBACK_TOOLS}; a client's tools go when its connection closes",
            details={"method": "tools/register", "limit": MAX_CALLBACK_TOOLS, "registered": len(shared)})
    mine = {spec.name: shared.put(callback_tool(spec, call.ask)) for spec in params.tools}
    owned = _owned.get(call.closed)
    if owned is not None:  # this connection registered before: its watcher removes these too
        owned.update(mine)
    elif not call.closed.is_set():
        _owned[call.closed] = mine
        task = asyncio.create_task(_unregister_when_closed(shared, call.closed))
        _keep.add(task)
        task.add_done_callback(_keep.discard)
    return {"registered": len(params.tools)}


_keep: set[asyncio.Task[None]] = set()
_owned: dict[asyncio.Event, dict[str, Tool]] = {}
"""Each open connection's latest tools by name (keyed by its ``closed`` event): one watcher per connection."""


async def _unregister_when_closed(shared: ToolRegistry, closed: asyncio.Event) -> None:
    await closed.wait()
    for tool in _owned.pop(closed, {}).values():
        if shared.get(tool.name) is tool:  # not replaced by a later registration
            shared.remove(tool.name)


def callback_tool(spec: CallbackToolSpec, ask: Ask) -> Tool:
    """A tool whose every call is a ``tool/execute`` request to the client that registered it."""
    loop = asyncio.get_running_loop()
    name = spec.name

    async def execute(arguments: dict[str, Any], call_id: str | None) -> ToolOutcome:
        params = {"tool_use_id": call_id or "", "name": name, "arguments": arguments}
        if asyncio.get_running_loop() is loop:
            raw = await ask("tool/execute", params)
        else:  # the turn runs on another loop than the connection
            raw = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_ask(ask, params), loop))
        return outcome_of(raw)

    timeout = spec.timeout_ms / 1000 if spec.timeout_ms is not None else DEFAULT_TIMEOUT_S
    return Tool(name, spec.description or f"Tool: {name}", execute, _AnyArgs, input_schema=spec.input_schema,
                timeout=timeout)


async def _ask(ask: Ask, params: dict[str, Any]) -> Any:
    return await ask("tool/execute", params)


def outcome_of(raw: Any) -> ToolOutcome:
    """The tool result a client's ``tool/execute`` result stands for (text blocks joined, others as JSON)."""
    result = RawToolResult.model_validate(raw if isinstance(raw, dict) else {"content": json.dumps(raw)})
    content = result.content
    if isinstance(content, list):
        text = "\n".join(block["text"] if block.get("type") == "text" and isinstance(block.get("text"), str)
                         else json.dumps(block) for block in content)
    else:
        text = content or ""
    return ToolOutcome(text, result.is_error)
