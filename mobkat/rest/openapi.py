"""The OpenAPI 3.1 document of the REST routes (``GET /openapi.json``), built from the route table.

Request bodies are the routes' pydantic models; every route answers JSON and documents its error shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

import mobkat
from mobkat.rest.routes import Route

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, for a human"},
        "code": {"type": "string", "description": "BAD_REQUEST, SESSION_NOT_FOUND, SESSION_BUSY, NOT_FOUND, ..."},
        "details": {"type": "object", "description": "typed details (kind, field, ...)"},
    },
}
_PATH_PARAM = re.compile(r"{(\w+)}")
EVENTS_OPERATION: dict[str, Any] = {
    "operationId": "session_events",
    "summary": "The session's agent events as Server-Sent Events (live only, no replay)",
    "description": "First `event: session_loaded` with `{session_id, message_count}`, then one event per agent "
                   "event, named by its payload type, whose data is the EventEnvelope. Runs JSON-RPC method "
                   "`session/stream_open`.",
    "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}],
    "responses": {
        "200": {"description": "an SSE stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        "default": {"description": "an error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    },
}


def _operation(route: Route) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(route.path)]
    params += [{"name": name, "in": "query", "required": False, "schema": {"type": kind}, "description": text}
               for name, kind, text in route.query]
    operation: dict[str, Any] = {
        "operationId": route.rpc.replace("/", "_"),
        "summary": route.summary,
        "description": f"Runs JSON-RPC method `{route.rpc}`; the result has the same shape.",
        "responses": {
            "200": {"description": f"the `{route.rpc}` result",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            "default": {"description": "an error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if params:
        operation["parameters"] = params
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}}}
    return operation


def openapi_document(routes: Sequence[Route], *, extra_paths: dict[str, dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
    """The document: one path item per route path, one operation per route, body schemas as components."""
    bodies: list[type[BaseModel]] = list({r.body for r in routes if r.body is not None})
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    if bodies:
        _, defs = models_json_schema([(b, "validation") for b in bodies],
                                     ref_template="#/components/schemas/{model}")
        schemas.update(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    paths["/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document",
        "responses": {"200": {"description": "the OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}}
    for path, item in (extra_paths or {}).items():
        paths.setdefault(path, {}).update(item)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "mobkat REST", "version": mobkat.__version__,
                 "description": "Upstream Meerkat's REST session routes, served by `mobkat rpc --rest ADDR`."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "only with mobkat rpc --auth-token-file"}}},
    }
