"""``mobkat rpc --rest ADDR``: upstream's REST routes against a real server, with aiohttp's client.

Each route answers what its JSON-RPC method answers over TCP on the same server; bad input is a typed JSON
error with an HTTP status; the OpenAPI document lists exactly the routes the server serves.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mobkat.rest.app import MAX_BODY_BYTES, build_app
from tests.rpc.helpers import SERVER, StderrLines, TcpServer, server_env

SESSION_ROUTES = {("POST", "/sessions"), ("GET", "/sessions"), ("GET", "/sessions/{session_id}"),
                  ("DELETE", "/sessions/{session_id}"), ("GET", "/sessions/{session_id}/history"),
                  ("POST", "/sessions/{session_id}/messages"), ("GET", "/sessions/{session_id}/events")}


class Servers:
    """One server with both JSON-RPC on TCP and REST: the same realm through both doors."""

    def __init__(self, tcp: TcpServer, rest: str) -> None:
        self.tcp = tcp
        self.rest = rest
        self._next_id = 0

    async def rpc(self, method: str, params: dict[str, Any]) -> Any:
        host, port = self.tcp.address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port), limit=1 << 24)
        try:
            self._next_id += 1
            writer.write(json.dumps({"jsonrpc": "2.0", "id": self._next_id, "method": method,
                                     "params": params}).encode() + b"\n")
            while True:
                message = json.loads(await asyncio.wait_for(reader.readline(), 20))
                if "id" in message:
                    assert "error" not in message, message
                    return message["result"]
        finally:
            writer.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    state = tmp_path_factory.mktemp("rest")
    tcp = TcpServer(["--simulator", "--rest", "127.0.0.1:0", "--state-root", str(state), "--realm", "rest"])
    try:
        rest = tcp.stderr.wait_for(r"rest listening on (\S+) ")
        yield Servers(tcp, rest)
    finally:
        assert tcp.stop() == 0


async def _json(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    async with session.request(method, url, **kwargs) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json()


def test_catalog_capabilities_and_config_are_the_rpc_answers(servers: Servers) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as http:
            status, body = await _json(http, "GET", f"{servers.rest}/models/catalog")
            assert status == 200 and body == await servers.rpc("models/catalog", {})
            assert body["contract_version"] == {"major": 0, "minor": 8, "patch": 26}
            status, only = await _json(http, "GET", f"{servers.rest}/models/catalog?provider=openai")
            assert status == 200 and only == await servers.rpc("models/catalog", {"provider": "openai"})
            for path, method in (("/capabilities", "capabilities/get"), ("/config", "config/get")):
                status, body = await _json(http, "GET", f"{servers.rest}{path}")
                assert status == 200 and body == await servers.rpc(method, {}), path

    asyncio.run(go())


def test_session_routes_answer_the_rpc_shapes(servers: Servers) -> None:
    async def go() -> None:
        rest = servers.rest
        async with aiohttp.ClientSession() as http:
            status, created = await _json(http, "POST", f"{rest}/sessions",
                                          json={"prompt": "Hello", "model": "gpt-5.5", "verbose": True})
            assert status == 200 and created["text"] == "You said: Hello" and created["turns"] == 1
            sid = created["session_id"]
            status, turn = await _json(http, "POST", f"{rest}/sessions/{sid}/messages",
                                       json={"session_id": sid, "prompt": "again"})
            assert status == 200 and turn["session_id"] == sid and turn["text"] == "You said: again"
            status, turn = await _json(http, "POST", f"{rest}/sessions/{sid}/messages", json={"prompt": "third"})
            assert status == 200 and turn["text"] == "You said: third"

            status, read = await _json(http, "GET", f"{rest}/sessions/{sid}")
            assert status == 200 and read == await servers.rpc("session/read", {"session_id": sid})
            status, history = await _json(http, "GET", f"{rest}/sessions/{sid}/history?offset=1&limit=2")
            assert status == 200
            assert history == await servers.rpc("session/history", {"session_id": sid, "offset": 1, "limit": 2})
            assert history["message_count"] == 6 and len(history["messages"]) == 2 and history["has_more"]
            status, listed = await _json(http, "GET", f"{rest}/sessions")
            assert status == 200 and sid in [s["session_id"] for s in listed["sessions"]]

            status, archived = await _json(http, "DELETE", f"{rest}/sessions/{sid}")
            assert status == 200 and archived == {"session_id": sid, "archived": True}
            status, listed = await _json(http, "GET", f"{rest}/sessions")
            assert sid not in [s["session_id"] for s in listed["sessions"]]
            status, listed = await _json(http, "GET", f"{rest}/sessions?include_archived=true")
            assert sid in [s["session_id"] for s in listed["sessions"]]

    asyncio.run(go())


def test_bad_input_is_a_typed_json_error_with_a_status(servers: Servers) -> None:
    async def go() -> None:
        rest = servers.rest
        async with aiohttp.ClientSession() as http:
            status, created = await _json(http, "POST", f"{rest}/sessions", json={"prompt": "x", "model": "gpt-5.5"})
            sid = created["session_id"]
            cases: list[tuple[str, str, dict[str, Any], int, str, str]] = [
                ("GET", "/sessions/0193b1f0-0000-7000-8000-000000000000", {}, 404, "SESSION_NOT_FOUND", "not found"),
                ("POST", "/sessions", {"data": b"{bad"}, 400, "BAD_REQUEST", "not valid JSON"),
                ("POST", "/sessions", {"json": [1, 2]}, 400, "BAD_REQUEST", "must be a JSON object"),
                ("POST", "/sessions", {"json": {"prompt": 5}}, 400, "BAD_REQUEST", "invalid params for session/create"),
                ("POST", "/sessions", {"json": {"prompt": "x", "model": "no-such-model"}}, 400, "BAD_REQUEST",
                 "no-such-model"),
                ("POST", "/sessions", {"json": {"prompt": "x", "initial_turn": "deferred"}}, 400, "BAD_REQUEST",
                 "initial_turn is not offered over REST"),
                ("POST", f"/sessions/{sid}/messages", {"json": {"session_id": "other", "prompt": "x"}}, 400,
                 "BAD_REQUEST", "does not match"),
                ("GET", "/sessions?limit=lots", {}, 400, "BAD_REQUEST", "limit='lots' is not an integer"),
                ("GET", "/sessions?include_archived=maybe", {}, 400, "BAD_REQUEST", "must be true or false"),
                ("POST", "/sessions", {"data": b"x" * (MAX_BODY_BYTES + 1)}, 413, "PAYLOAD_TOO_LARGE", "larger than"),
                ("GET", "/nowhere", {}, 404, "NOT_FOUND", "no route GET /nowhere"),
                ("PUT", "/sessions", {}, 405, "METHOD_NOT_ALLOWED", "PUT is not allowed"),
            ]
            for method, path, kwargs, want_status, want_code, want_text in cases:
                status, body = await _json(http, method, f"{rest}{path}", **kwargs)
                assert (status, body["code"]) == (want_status, want_code), (method, path, body)
                assert want_text in body["error"], (method, path, body)
            status, body = await _json(http, "POST", f"{rest}/sessions", json={"prompt": 5})
            assert body["details"]["kind"] == "invalid_params" and body["details"]["errors"][0]["field"] == "prompt.str"

    asyncio.run(go())


def _operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_openapi_document_lists_exactly_the_served_routes(servers: Servers) -> None:
    async def go() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            status, document = await _json(http, "GET", f"{servers.rest}/openapi.json")
            assert status == 200
            for method, path in sorted(_operations(document)):  # every documented operation is routed
                url = servers.rest + path.replace("{session_id}", "0193b1f0-0000-7000-8000-000000000000")
                status, body = await _json(http, method, url, json={} if method == "POST" else None)
                assert status < 300 or body["code"] not in ("NOT_FOUND", "METHOD_NOT_ALLOWED"), (method, path, body)
            return document

    document = asyncio.run(go())
    app = build_app(host=None)  # type: ignore[arg-type]  # the route table only; nothing is served
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert _operations(document) == served  # and every served route is documented
    assert {("GET", "/models/catalog"), ("GET", "/openapi.json")} | SESSION_ROUTES <= served
    assert document["openapi"] == "3.1.0"
    schemas = document["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert ref in schemas, ref
    create = document["paths"]["/sessions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "prompt" in schemas[create["$ref"].rsplit("/", 1)[1]]["properties"]


def test_the_auth_token_guards_every_route(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    process = subprocess.Popen([*SERVER, "--simulator", "--rest", "127.0.0.1:0", "--auth-token-file", str(token),
                                "--state-root", str(tmp_path)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=server_env())
    try:
        assert process.stderr is not None
        rest = StderrLines(process.stderr).wait_for(r"rest listening on (\S+) ")

        async def go() -> None:
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
                    async with http.get(f"{rest}/models/catalog", headers=headers) as response:
                        body = await response.json()
                        assert response.status == 401 and body["code"] == "UNAUTHORIZED", body
                        assert response.headers["WWW-Authenticate"] == "Bearer"
                async with http.get(f"{rest}/openapi.json") as response:
                    assert response.status == 401
                good = {"Authorization": "Bearer s3cret"}
                status, body = await _json(http, "GET", f"{rest}/models/catalog", headers=good)
                assert status == 200 and body["providers"]

        asyncio.run(go())
    finally:
        process.terminate()
        assert process.wait(15) == 0


def test_rest_refuses_a_non_loopback_address_without_allow_remote() -> None:
    done = subprocess.run([*SERVER, "--rest", "0.0.0.0:0"], capture_output=True, env=server_env(), timeout=30,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert b"--rest 0.0.0.0:0 is not a loopback address" in done.stderr


async def _sse_frames(response: aiohttp.ClientResponse, until: str, timeout: float = 20.0) -> list[tuple[str, Any]]:
    """Read SSE frames ``(event, data)`` up to and including the first named ``until``."""
    frames: list[tuple[str, Any]] = []
    event = None
    async with asyncio.timeout(timeout):
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                assert event is not None
                frames.append((event, json.loads(line[len("data: "):])))
                if event == until:
                    return frames


def test_session_events_stream_as_sse(servers: Servers) -> None:
    async def go() -> None:
        rest = servers.rest
        async with aiohttp.ClientSession() as http:
            status, created = await _json(http, "POST", f"{rest}/sessions", json={"prompt": "hi", "model": "gpt-5.5"})
            sid = created["session_id"]
            async with http.get(f"{rest}/sessions/{sid}/events") as stream:
                assert stream.status == 200 and stream.content_type == "text/event-stream"
                assert await _sse_frames(stream, "session_loaded") == [
                    ("session_loaded", {"session_id": sid, "message_count": 2})]
                turn = asyncio.create_task(_json(http, "POST", f"{rest}/sessions/{sid}/messages",
                                                 json={"prompt": "stream me"}))
                frames = await _sse_frames(stream, "run_completed")
                assert (await turn)[1]["text"] == "You said: stream me"
            names = [name for name, _ in frames]
            assert names[0] == "run_started" and "text_delta" in names and names[-1] == "run_completed"
            for name, envelope in frames:
                assert envelope["payload"]["type"] == name and envelope["source"] == {"type": "session",
                                                                                     "session_id": sid}
            assert "".join(e["payload"]["delta"] for n, e in frames if n == "text_delta") == "You said: stream me"
            status, body = await _json(http, "GET", f"{rest}/sessions/0193b1f0-0000-7000-8000-000000000000/events")
            assert status == 404 and body["code"] == "SESSION_NOT_FOUND"

    asyncio.run(go())


def test_stopping_the_server_ends_open_event_streams(tmp_path: Path) -> None:
    process = subprocess.Popen([*SERVER, "--simulator", "--rest", "127.0.0.1:0", "--state-root", str(tmp_path)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=server_env())
    try:
        assert process.stderr is not None
        rest = StderrLines(process.stderr).wait_for(r"rest listening on (\S+) ")

        async def go() -> None:
            async with aiohttp.ClientSession() as http:
                _status, created = await _json(http, "POST", f"{rest}/sessions", json={"prompt": "hi",
                                                                                        "model": "gpt-5.5"})
                async with http.get(f"{rest}/sessions/{created['session_id']}/events") as stream:
                    await _sse_frames(stream, "session_loaded")
                    process.terminate()
                    async with asyncio.timeout(10):
                        rest_of_stream = await stream.content.read()  # EOF: the stream ended, no timeout hit
                    assert rest_of_stream.strip() == b""

        asyncio.run(go())
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
