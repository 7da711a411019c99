"""Python functions as model tools: JSON schema from the signature, arguments validated by pydantic."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from mobkat.errors import ToolError

DEFAULT_TOOL_TIMEOUT = 30.0
_NAME_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call produced: text for the model, and whether it is an error."""

    content: str
    is_error: bool = False
    timeout_s: float | None = None
    """Set when the call was cut off after this many seconds (``content`` says so)."""


@dataclass(frozen=True)
class Tool:
    """A callable the model may invoke, with its JSON schema and argument model."""

    name: str
    description: str
    func: Callable[..., Any]
    args_model: type[BaseModel]
    input_schema: dict[str, Any] | None = None
    """Set for a tool described by a JSON schema of its own (e.g. a client's callback tool): ``func`` is then
    ``async func(arguments: dict, call_id: str | None)``, and ``args_model`` is not used."""
    timeout: float | None = None
    """This tool's own time limit (instead of the caller's)."""

    @property
    def parameters(self) -> dict[str, Any]:
        if self.input_schema is not None:
            return self.input_schema
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return schema

    def spec(self) -> dict[str, Any]:
        """The OpenAI Chat Completions function-tool declaration."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def realtime_spec(self) -> dict[str, Any]:
        """The OpenAI Realtime ``session.tools`` declaration."""
        return {"type": "function", "name": self.name, "description": self.description,
                "parameters": self.parameters}


def _args_model(name: str, func: Callable[..., Any]) -> type[BaseModel]:
    hints = get_type_hints(func)
    fields: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolError(f"tool {name!r}: *args/**kwargs parameters cannot be described to a model")
        annotation = hints.get(param.name, str)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, default)
    model: type[BaseModel] = create_model(
        f"{name}_args", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model


def make_tool(func: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> Tool:
    """Describe ``func`` as a tool; its docstring's first paragraph is the default description."""
    tool_name = name or func.__name__
    if not tool_name or any(c not in _NAME_OK for c in tool_name) or len(tool_name) > 64:
        raise ToolError(f"tool name {tool_name!r} must be 1-64 characters of letters, digits, '_' or '-'")
    doc = (description or inspect.getdoc(func) or "").strip().split("\n\n")[0]
    return Tool(tool_name, doc, func, _args_model(tool_name, func))


class ToolRegistry:
    """The tools a session offers. Thread-safe; calls run in worker threads with a timeout."""

    def __init__(self, tools: list[Tool] | None = None, *, fallback: ToolRegistry | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.Lock()
        self.fallback = fallback
        """Tools offered too, unless one of this registry's own has the same name (shared tools)."""
        for tool in tools or []:
            self.add(tool)

    def add(self, tool: Tool) -> Tool:
        with self._lock:
            if tool.name in self._tools:
                raise ToolError(f"tool {tool.name!r} is already registered")
            self._tools[tool.name] = tool
        return tool

    def register(
        self, func: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None
    ) -> Any:
        """Register ``func`` (usable bare or as ``@tools.register(name=...)``)."""

        def _wrap(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(make_tool(f, name=name, description=description))
            return f

        return _wrap(func) if func is not None else _wrap

    def put(self, tool: Tool) -> Tool:
        """Add ``tool``, replacing one of the same name."""
        with self._lock:
            self._tools[tool.name] = tool
        return tool

    def remove(self, name: str) -> None:
        with self._lock:
            self._tools.pop(name, None)

    def get(self, name: str) -> Tool | None:
        with self._lock:
            tool = self._tools.get(name)
        if tool is None and self.fallback is not None:
            return self.fallback.get(name)
        return tool

    def _all(self) -> list[Tool]:
        with self._lock:
            own = list(self._tools.values())
        if self.fallback is None:
            return own
        names = {tool.name for tool in own}
        return own + [tool for tool in self.fallback if tool.name not in names]

    def names(self) -> list[str]:
        return sorted(tool.name for tool in self._all())

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self]

    def realtime_specs(self) -> list[dict[str, Any]]:
        return [tool.realtime_spec() for tool in self]

    async def call(self, name: str, arguments: str | dict[str, Any], *,
                   timeout: float = DEFAULT_TOOL_TIMEOUT, call_id: str | None = None) -> ToolOutcome:
        """Run a tool call from the model. Bad names, arguments, failures and timeouts become error outcomes."""
        tool = self.get(name)
        if tool is None:
            return ToolOutcome(f"unknown tool {name!r}; available: {', '.join(self.names()) or 'none'}", True)
        if tool.timeout is not None:
            timeout = tool.timeout
        if tool.input_schema is not None:
            return await _call_raw(tool, arguments, timeout, call_id)
        try:
            raw = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
            if not isinstance(raw, dict):
                raise ValueError("arguments must be a JSON object")
            args = tool.args_model.model_validate(raw)
        except (ValueError, ValidationError) as exc:
            return ToolOutcome(f"invalid arguments for tool {name!r}: {exc}", True)
        kwargs = {field: getattr(args, field) for field in type(args).model_fields}
        try:
            if inspect.iscoroutinefunction(tool.func):
                value = await asyncio.wait_for(tool.func(**kwargs), timeout)
            else:
                value = await asyncio.wait_for(asyncio.to_thread(tool.func, **kwargs), timeout)
        except TimeoutError:
            return ToolOutcome(f"tool {name!r} timed out after {timeout:g} s", True, timeout)
        except Exception as exc:  # a tool's failure is reported to the model, not raised
            return ToolOutcome(f"tool {name!r} failed: {type(exc).__name__}: {exc}", True)
        return ToolOutcome(value if isinstance(value, str) else json.dumps(value, default=str))


async def _call_raw(tool: Tool, arguments: str | dict[str, Any], timeout: float, call_id: str | None) -> ToolOutcome:
    """Call a schema-described tool with the raw argument object and the model's call id (it checks them)."""
    try:
        raw = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
    except ValueError as exc:
        return ToolOutcome(f"invalid arguments for tool {tool.name!r}: {exc}", True)
    if not isinstance(raw, dict):
        return ToolOutcome(f"invalid arguments for tool {tool.name!r}: arguments must be a JSON object", True)
    try:
        value = await asyncio.wait_for(tool.func(raw, call_id), timeout)
    except TimeoutError:
        return ToolOutcome(f"tool {tool.name!r} timed out after {timeout:g} s", True, timeout)
    except Exception as exc:  # e.g. the client that serves a callback tool went away: the model is told
        return ToolOutcome(f"tool {tool.name!r} failed: {type(exc).__name__}: {exc}", True)
    if isinstance(value, ToolOutcome):
        return value
    return ToolOutcome(value if isinstance(value, str) else json.dumps(value, default=str))
