"""The REST routes (upstream ``rkat-rest`` shapes), each a thin front of one JSON-RPC method.

A route turns its path, query and body into that method's params, runs the method's own handler from the
server's registry (same validation, same result shape as over JSON-RPC) and answers its result as JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from mobkat.errors import InvalidInputError
from mobkat.rpc.registry import Call
from mobkat.wire.session import CreateSessionParams, TurnStartParams

Params = Callable[[web.Request, dict[str, Any] | None], dict[str, Any]]


class CreateSessionBody(CreateSessionParams):
    """``POST /sessions``: the fields of RPC ``session/create`` plus upstream's ``verbose`` (ignored).
    There is no deferred first turn over REST (upstream has none either)."""

    model_config = ConfigDict(extra="allow")
    verbose: bool | None = None


class TurnBody(TurnStartParams):
    """``POST /sessions/{id}/messages``: the fields of RPC ``turn/start``; ``session_id`` may be left out,
    and when given must name the session of the path."""

    session_id: str | None = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Route:
    """One REST route: ``rpc`` is the JSON-RPC method it runs, ``params`` builds that method's params."""

    method: str
    path: str
    rpc: str
    params: Params
    summary: str
    body: type[BaseModel] | None = None
    query: tuple[tuple[str, str, str], ...] = ()
    """(name, JSON schema type, description) of each query parameter."""


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInputError(f"query parameter {name}={raw!r} is not an integer",
                                details={"parameter": name}) from None
    return value


def _page(request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("offset", "limit"):
        value = _int_query(request, name)
        if value is not None:
            out[name] = value
    return out


def _create(_request: web.Request, body: dict[str, Any] | None) -> dict[str, Any]:
    params = dict(body or {})
    params.pop("verbose", None)
    if "initial_turn" in params:
        raise InvalidInputError("initial_turn is not offered over REST: POST /sessions runs the first turn "
                                "(create a deferred session over JSON-RPC session/create)",
                                details={"field": "initial_turn"})
    return params


def _turn(request: web.Request, body: dict[str, Any] | None) -> dict[str, Any]:
    session_id = request.match_info["session_id"]
    params = dict(body or {})
    given = params.get("session_id", session_id)
    if given != session_id:
        raise InvalidInputError(f"body session_id {given!r} does not match the path's session {session_id}",
                                details={"field": "session_id", "path_session_id": session_id})
    params["session_id"] = session_id
    return params


def _session(request: web.Request, _body: dict[str, Any] | None) -> dict[str, Any]:
    return {"session_id": request.match_info["session_id"]}


def _history(request: web.Request, body: dict[str, Any] | None) -> dict[str, Any]:
    return {**_session(request, body), **_page(request)}


def _list(request: web.Request, _body: dict[str, Any] | None) -> dict[str, Any]:
    params = _page(request)
    archived = request.query.get("include_archived")
    if archived is not None:
        if archived not in ("true", "false"):
            raise InvalidInputError(f"query parameter include_archived={archived!r} must be true or false",
                                    details={"parameter": "include_archived"})
        params["include_archived"] = archived == "true"
    return params


def _catalog(request: web.Request, _body: dict[str, Any] | None) -> dict[str, Any]:
    provider = request.query.get("provider")
    return {} if provider is None else {"provider": provider}


def _none(_request: web.Request, _body: dict[str, Any] | None) -> dict[str, Any]:
    return {}


PAGE = (("offset", "integer", "rows to skip"), ("limit", "integer", "most rows to return"))
ROUTES: tuple[Route, ...] = (
    Route("GET", "/models/catalog", "models/catalog", _catalog, "The model catalog (as RPC models/catalog)",
          query=(("provider", "string", "only this provider's models"),)),
    Route("GET", "/capabilities", "capabilities/get", _none, "Capabilities (as RPC capabilities/get)"),
    Route("GET", "/config", "config/get", _none, "The merged config and its sources (as RPC config/get)"),
    Route("POST", "/sessions", "session/create", _create, "Create a session and run its first turn",
          body=CreateSessionBody),
    Route("GET", "/sessions", "session/list", _list, "List sessions (as RPC session/list)",
          query=(*PAGE, ("include_archived", "boolean", "also list archived sessions"))),
    Route("GET", "/sessions/{session_id}", "session/read", _session, "Read one session (as RPC session/read)"),
    Route("DELETE", "/sessions/{session_id}", "session/archive", _session, "Archive a session"),
    Route("GET", "/sessions/{session_id}/history", "session/history", _history,
          "A page of the session's history (as RPC session/history)", query=PAGE),
    Route("POST", "/sessions/{session_id}/messages", "turn/start", _turn, "Run a turn on the session",
          body=TurnBody),
    Route("POST", "/sessions/{session_id}/interrupt", "turn/interrupt", _session,
          "Cancel the session's running turn (as RPC turn/interrupt)"),
)


async def run_route(call: Call, route: Route, request: web.Request, body: dict[str, Any] | None) -> Any:
    """Run ``route``'s JSON-RPC method with the params built from ``request``; its result."""
    spec = call.host.registry.get(route.rpc)
    if spec is None:  # e.g. a method family this server was started without
        raise InvalidInputError(f"{route.method} {route.path} needs RPC method {route.rpc}, which this server "
                                "does not serve", details={"method": route.rpc})
    params = spec.params.model_validate(route.params(request, body))
    handler: Callable[[Call, Any], Awaitable[Any]] = spec.handler
    return await handler(call, params)
