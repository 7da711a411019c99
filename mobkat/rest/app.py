"""The REST listener of ``mobkat rpc --rest ADDR`` (aiohttp), serving :data:`~mobkat.rest.routes.ROUTES`.

Every answer is JSON (but the SSE stream of ``GET /sessions/{id}/events``, :mod:`mobkat.rest.events`).
Errors are upstream's ``{"error": "<message>", "code": "<CODE>", "details"?: {...}}`` with an HTTP status
(:func:`http_error`). Request bodies are bounded (``MAX_BODY_BYTES``, then the JSON shape bounds of
:mod:`mobkat.rpc.wire_guard`). With an auth token every request must carry ``Authorization: Bearer
<token>`` (401 otherwise). ``GET /openapi.json`` serves the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from mobkat.errors import (
    CAPABILITY_UNAVAILABLE,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    PROVIDER_ERROR,
    REQUEST_CANCELLED,
    SESSION_BUSY,
    SESSION_NOT_FOUND,
    STALE_CURSOR,
)
from mobkat.rest.events import EVENTS_PATH, OpenStreams, open_events
from mobkat.rest.openapi import EVENTS_OPERATION, openapi_document
from mobkat.rest.routes import ROUTES, Route, run_route
from mobkat.rpc.auth import token_matches
from mobkat.rpc.protocol import error_from_exception
from mobkat.rpc.registry import Call
from mobkat.rpc.wire_guard import JsonTextError, load_bounded

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Largest request body (as the JSON-RPC line limit); larger ones are answered 413 unread."""
HOST_KEY = web.AppKey("host", object)
STREAMS_KEY = web.AppKey("streams", OpenStreams)
OPENAPI_PATH = "/openapi.json"
SHUTDOWN_GRACE_S = 1.0
"""At server stop, running requests and open event streams get this long before they are cancelled."""

_STATUS: dict[int, tuple[int, str]] = {
    PARSE_ERROR: (400, "BAD_REQUEST"),
    INVALID_REQUEST: (400, "BAD_REQUEST"),
    INVALID_PARAMS: (400, "BAD_REQUEST"),
    SESSION_NOT_FOUND: (404, "SESSION_NOT_FOUND"),
    SESSION_BUSY: (409, "SESSION_BUSY"),
    REQUEST_CANCELLED: (409, "REQUEST_CANCELLED"),
    STALE_CURSOR: (409, "STALE_CURSOR"),
    PROVIDER_ERROR: (502, "PROVIDER_ERROR"),
    CAPABILITY_UNAVAILABLE: (501, "CAPABILITY_UNAVAILABLE"),
}
"""JSON-RPC error code → (HTTP status, upstream REST error code); anything else is 500 INTERNAL_ERROR."""


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message, "code": code}
    if details:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


def http_error(exc: BaseException, method: str) -> web.Response:
    """The REST answer to what a route raised (the JSON-RPC mapping, then code → HTTP status)."""
    rpc = error_from_exception(exc, method=method)
    status, code = _STATUS.get(rpc.code, (500, "INTERNAL_ERROR"))
    details = {"kind": rpc.data.get("kind"), **(rpc.data.get("details") or {})}
    return error_response(status, code, rpc.message, details)


async def _read_body(request: web.Request) -> dict[str, Any] | None:
    if not request.can_read_body:
        return None
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _TooLarge(request.content_length)
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):  # a chunked body has no length up front
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge(None)
        chunks.append(chunk)
    data = b"".join(chunks)
    if not data.strip():
        return None
    try:
        body = load_bounded(data)
    except JsonTextError as exc:
        raise _BadBody(f"the request body is not valid JSON: {exc.message}") from None
    if not isinstance(body, dict):
        raise _BadBody("the request body must be a JSON object")
    return body


class _TooLarge(Exception):
    def __init__(self, size: int | None) -> None:
        super().__init__(size)
        self.size = size


class _BadBody(Exception):
    pass


def _handler(route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        host: ServerHost = request.app[HOST_KEY]  # type: ignore[assignment]
        try:
            body = await _read_body(request) if route.body is not None else None
        except _TooLarge as exc:
            return error_response(413, "PAYLOAD_TOO_LARGE", f"the request body is larger than {MAX_BODY_BYTES} "
                                  "bytes", {"limit": MAX_BODY_BYTES, "size": exc.size})
        except _BadBody as exc:
            return error_response(400, "BAD_REQUEST", str(exc))
        call = Call(host=host, method=route.rpc, notify=lambda _method, _params: None)
        try:
            result = await run_route(call, route, request, body)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return http_error(exc, route.rpc)
        finally:
            call.closed.set()
        return web.json_response(result, dumps=_dumps)

    return handle


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _auth_middleware(token: str | None) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if token is not None:
            header = request.headers.get("Authorization", "")
            presented = header[len("Bearer "):] if header.startswith("Bearer ") else None
            if presented is None or not token_matches(token, presented):
                return error_response(401, "UNAUTHORIZED", "this server requires its auth token: send "
                                      "'Authorization: Bearer <token>' (mobkat rpc --auth-token-file)",
                                      headers={"WWW-Authenticate": "Bearer"})
        try:
            return await handler(request)
        except web.HTTPException as exc:  # unknown route, wrong method, ...: typed JSON too
            if exc.status == 404:
                return error_response(404, "NOT_FOUND", f"no route {request.method} {request.path} (see GET "
                                      f"{OPENAPI_PATH})", {"path": request.path})
            if exc.status == 405:
                return error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on "
                                      f"{request.path}", {"path": request.path, "method": request.method},
                                      headers={"Allow": exc.headers.get("Allow", "")})
            return error_response(exc.status, "BAD_REQUEST", exc.text or exc.reason)

    return middleware


def build_app(host: ServerHost, *, auth_token: str | None = None) -> web.Application:
    """The aiohttp application serving every route plus ``GET /openapi.json``."""
    app = web.Application(middlewares=[_auth_middleware(auth_token)], client_max_size=MAX_BODY_BYTES)
    app[HOST_KEY] = host
    app[STREAMS_KEY] = OpenStreams()
    document = openapi_document(ROUTES, extra_paths={EVENTS_PATH: {"get": EVENTS_OPERATION}})

    async def openapi(_request: web.Request) -> web.Response:
        return web.json_response(document, dumps=_dumps)

    async def events(request: web.Request) -> web.StreamResponse:
        try:
            return await open_events(host, request, app[STREAMS_KEY])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused before the stream started
            return http_error(exc, "session/stream_open")

    for route in ROUTES:
        app.router.add_route(route.method, route.path, _handler(route))
    app.router.add_get(EVENTS_PATH, events, allow_head=False)
    app.router.add_get(OPENAPI_PATH, openapi, allow_head=False)
    return app


class RestListener:
    """The running REST listener: :meth:`start` binds, :meth:`stop` closes it."""

    def __init__(self, host: ServerHost, *, auth_token: str | None = None) -> None:
        self._app = build_app(host, auth_token=auth_token)
        self._runner = web.AppRunner(self._app, access_log=None,
                                     handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S)
        self.address: tuple[str, int] | None = None

    async def start(self, address: tuple[str, int]) -> RestListener:
        await self._runner.setup()
        site = web.TCPSite(self._runner, address[0], address[1])
        await site.start()
        bound = self._runner.addresses[0]  # the port the OS picked for port 0
        self.address = (str(bound[0]), int(bound[1]))
        return self

    @property
    def base_url(self) -> str:
        assert self.address is not None
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def stop(self) -> None:
        self._app[STREAMS_KEY].stop_all()  # open event streams end now, not at the shutdown timeout
        await self._runner.cleanup()
