"""Attacks on the JSON-RPC wire and the live WebSocket: each is answered with a typed error, bounded, and survived.

Every test here is an attack that worked against the server before the wire was bounded (the stdio
server exited on deep nesting, a client that never read its replies grew the server by gigabytes,
a 60 MB line stalled every client for seconds, a lone surrogate left an empty session behind, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from mobkat.client import LiveSocketRejected, MobkatClient, TooManyConnections
from mobkat.rpc.protocol import MAX_LINE_BYTES
from mobkat.rpc.wire_guard import MAX_JSON_DEPTH
from tests.rpc.helpers import LINE_LIMIT, LoggedServer, RawRpc

LISTENING = r"listening on tcp://(\S+) "
MB = 1024 * 1024
RSS_BOUND = 300 * MB
CATALOG = b'{"jsonrpc":"2.0","id":%d,"method":"models/catalog"}\n'


def start(tmp_path: Path, *flags: str) -> tuple[LoggedServer, str]:
    server = LoggedServer(["--tcp", "127.0.0.1:0", "--isolated", "--state-root", str(tmp_path / "state"), *flags],
                          tmp_path / f"stderr-{time.monotonic_ns()}.log")
    return server, server.wait_for(LISTENING)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the tests that do not measure or stop it."""
    server, address = start(tmp_path_factory.mktemp("wire"), "--simulator", "--live-ws", "127.0.0.1:0")
    yield address
    code, _took = server.terminate()
    assert code == 0 and "Traceback" not in server.stderr()


class Wire:
    """A raw JSON-RPC connection over TCP."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, address: str) -> Wire:
        host, _, port = address.rpartition(":")
        return cls(*await asyncio.open_connection(host, int(port), limit=LINE_LIMIT))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 20.0) -> dict[str, Any]:
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            assert line, "the server closed the connection"
            message: dict[str, Any] = json.loads(line)
            if "id" in message:
                return message

    async def call(self, method: str, params: dict[str, Any] | None = None, request_id: int = 1) -> dict[str, Any]:
        await self.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                                    "params": params or {}}).encode() + b"\n")
        response = await self.recv()
        assert response["id"] == request_id, response
        return response

    def abort(self) -> None:
        """Drop the connection without flushing (what a client that stops reading does when it leaves)."""
        self.writer.transport.abort()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await self.writer.wait_closed()


def _too_deep(response: dict[str, Any]) -> None:
    error = response["error"]
    assert response["id"] is None and error["code"] == -32600, response
    assert error["data"]["details"] == {"kind": "too_deep", "limit": MAX_JSON_DEPTH}
    assert f"deeper than {MAX_JSON_DEPTH} levels" in error["message"]


def _nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"x":' + b"[" * depth + b"]" * depth + b"}}\n"


# -- depth ------------------------------------------------------------------------------------------
def test_deep_nesting_on_stdio_is_refused_and_the_process_survives() -> None:
    async def main() -> None:
        rpc = await RawRpc.start("--simulator")
        try:
            await rpc.send(b"[" * 1000 + b"\n")
            _too_deep(await rpc.recv())
            await rpc.send(b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"\n")
            _too_deep(await rpc.recv())
            await rpc.send(_nested(MAX_JSON_DEPTH - 3))  # legitimate nesting still passes
            assert (await rpc.recv())["result"]["contract_version"].startswith("0.8")
            created = await rpc.result("session/create", {"prompt": "still here?", "model": "gpt-5.5"})
            assert created["text"] == "You said: still here?"
        finally:
            assert await rpc.close() == 0

    asyncio.run(main())


def test_deep_nesting_on_tcp_is_refused_and_the_connection_survives(shared: str) -> None:
    async def main() -> None:
        wire = await Wire.open(shared)
        try:
            await wire.send(b"[" * 1000 + b'{"jsonrpc":"2.0","id":1,"method":"initialize"}' + b"]" * 1000 + b"\n")
            _too_deep(await wire.recv())
            await wire.send(_nested(MAX_JSON_DEPTH + 1))
            _too_deep(await wire.recv())
            assert "result" in await wire.call("initialize", request_id=2)  # same connection, still served
        finally:
            await wire.close()

    asyncio.run(main())


@pytest.mark.parametrize("frame", ["[" * 1000, '{"kind":"text","text":' + "[" * 200 + "]" * 200 + "}",
                                   '{"kind":"text","text":"\\udc80"}'], ids=["deep", "deep-chunk", "surrogate"])
def test_a_deep_or_surrogate_text_frame_closes_the_live_socket_with_1007(shared: str, frame: str) -> None:
    async def main() -> None:
        async with await MobkatClient().connect(tcp=shared) as client:
            created = await client.create_session("hello", model="gpt-realtime-2")
            opened = await client.live_open(created.session_id)
            async with client.live_connect(opened) as socket:
                await socket.send_raw(frame)
                with pytest.raises(LiveSocketRejected) as refused:
                    await socket.wait_for("turn_completed")
            assert refused.value.code == "invalid_text_frame" and refused.value.close_code == 1007
            again = await client.create_session("still serving?", model="gpt-5.5")
            assert again.text == "You said: still serving?"

    asyncio.run(main())


# -- lone surrogates --------------------------------------------------------------------------------
def test_a_lone_surrogate_is_refused_naming_the_field_and_nothing_is_created() -> None:
    async def main() -> None:
        rpc = await RawRpc.start("--simulator")
        try:
            await rpc.send(b'{"jsonrpc":"2.0","id":1,"method":"session/create","params":'
                           b'{"prompt":"hi \\udc80","model":"gpt-5.5"}}\n')
            error = (await rpc.recv())["error"]
            assert error["code"] == -32602 and "params.prompt" in error["message"], error
            assert error["data"]["details"]["errors"][0]["field"] == "params.prompt"
            await rpc.send(b'{"jsonrpc":"2.0","id":2,"method":"session/create","params":'
                           b'{"prompt":[{"type":"text","text":"ok"},{"type":"text","text":"\\ud800"}],"model":"gpt-5.5"}}\n')
            assert (await rpc.recv())["error"]["data"]["details"]["errors"][0]["field"] == "params.prompt[1].text"
            await rpc.send(b'{"jsonrpc":"2.0","id":3,"method":"session/create","params":'
                           b'{"prompt":"hi","labels":{"team":"\\uDFFF"},"model":"gpt-5.5"}}\n')
            assert (await rpc.recv())["error"]["data"]["details"]["errors"][0]["field"] == "params.labels.team"
            await rpc.send(b'{"jsonrpc":"2.0","id":4,"method":"session/create","params":'
                           b'{"prompt":"hi \xed\xb2\x80","model":"gpt-5.5"}}\n')  # the surrogate as raw (CESU) bytes
            raw_bytes = await rpc.recv()
            assert raw_bytes["error"]["code"] == -32700 and "not UTF-8" in raw_bytes["error"]["message"]
            await rpc.send(b'{"jsonrpc":"2.0","id":5,"method":"session/\\udc80"}\n')
            odd_method = (await rpc.recv())["error"]
            assert odd_method["code"] == -32600 and odd_method["data"]["details"]["field"] == "request.method"
            assert (await rpc.result("session/list", {}))["sessions"] == []  # nothing was created
            created = await rpc.result("session/create", {"prompt": "a real 😀 pair", "model": "gpt-5.5"})
            assert created["text"] == "You said: a real 😀 pair"
        finally:
            assert await rpc.close() == 0

    asyncio.run(main())


# -- back-pressure ----------------------------------------------------------------------------------
async def _initialize_latency(address: str) -> float:
    started = time.monotonic()
    wire = await Wire.open(address)
    try:
        assert "result" in await wire.call("initialize")
    finally:
        await wire.close()
    return time.monotonic() - started


def test_a_client_that_never_reads_its_replies_is_held_back_and_memory_stays_bounded(tmp_path: Path) -> None:
    server, address = start(tmp_path, "--simulator")

    async def main() -> None:
        flood = await Wire.open(address)
        assert "result" in await flood.call("initialize")
        baseline = peak = server.rss_bytes()
        sent, next_id, held_back = 0, 1000, False
        deadline = time.monotonic() + 20
        while sent < 50 * MB and time.monotonic() < deadline:
            chunk = b"".join(CATALOG % i for i in range(next_id, next_id + 20_000))
            next_id += 20_000
            flood.writer.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(flood.writer.drain(), 3.0)
            except TimeoutError:
                held_back = True  # the server stopped reading us: back-pressure
                break
            peak = max(peak, server.rss_bytes())
            assert peak - baseline < RSS_BOUND, f"server grew {(peak - baseline) // MB} MB after {sent // MB} MB"
        for _ in range(5):  # meanwhile, everyone else is served promptly
            assert await _initialize_latency(address) < 2.0
            peak = max(peak, server.rss_bytes())
        assert peak - baseline < RSS_BOUND, f"server grew {(peak - baseline) // MB} MB"
        assert held_back, f"the server read all {sent // MB} MB of requests while nobody read the replies"
        flood.abort()

        # replies are held, never dropped: 2000 catalogs (~24 MB of replies, over the output bound) read late
        late = await Wire.open(address)
        await late.send(b"".join(CATALOG % i for i in range(2000)))
        seen = [(await late.recv(timeout=60))["id"] for _ in range(2000)]
        assert sorted(seen) == list(range(2000))
        await late.close()

    try:
        asyncio.run(main())
    finally:
        code, _took = server.terminate()
    assert code == 0 and "Traceback" not in server.stderr()


def test_huge_lines_are_refused_without_stalling_other_clients(shared: str) -> None:
    async def main() -> None:
        attacker, bystander = await Wire.open(shared), await Wire.open(shared)
        latencies: list[float] = []
        done = asyncio.Event()

        async def ping() -> None:
            request_id = 100
            while not done.is_set():
                request_id += 1
                started = time.monotonic()
                assert "result" in await bystander.call("config/get", request_id=request_id)
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.02)

        pinger = asyncio.create_task(ping())
        try:
            await attacker.send(b"[" + b"{}," * (20 * MB) + b"{}]\n")  # 60 MB
            oversized = (await attacker.recv(timeout=60))["error"]
            members = (MAX_LINE_BYTES - 200) // 3
            await attacker.send(b'{"jsonrpc":"2.0","id":9,"method":"initialize","params":{"a":['
                                + b"{}," * members + b"{}]}}\n")
            too_many = (await attacker.recv(timeout=30))["error"]
            after = await attacker.call("initialize", request_id=10)  # only the refused lines were skipped
        finally:
            done.set()
            await pinger
            await attacker.close()
            await bystander.close()
        assert len(latencies) >= 3 and max(latencies) < 1.5, latencies
        assert oversized["code"] == -32600 and "exceeds" in oversized["message"], oversized
        assert too_many["code"] == -32600 and too_many["data"]["details"]["kind"] == "too_many_members", too_many
        assert "result" in after

    asyncio.run(main())


# -- connections ------------------------------------------------------------------------------------
def test_connections_beyond_the_cap_get_one_error_line_and_are_closed(tmp_path: Path) -> None:
    server, address = start(tmp_path, "--max-connections", "2")

    async def main() -> None:
        first, second = await Wire.open(address), await Wire.open(address)
        for wire in (first, second):
            assert "result" in await wire.call("initialize")
        third = await Wire.open(address)
        line = await asyncio.wait_for(third.reader.readline(), 10)
        refused = json.loads(line)
        assert refused["id"] is None and refused["error"]["code"] == -32041
        assert refused["error"]["data"] == {"kind": "too_many_connections", "details": {"limit": 2}}
        assert await asyncio.wait_for(third.reader.read(), 10) == b""  # and closed
        with pytest.raises(TooManyConnections):
            await MobkatClient().connect(tcp=address)
        await first.close()
        async with asyncio.timeout(10):  # the freed slot is reused as soon as the server sees the close
            while True:
                fourth = await Wire.open(address)
                await fourth.send(b'{"jsonrpc":"2.0","id":1,"method":"initialize"}\n')
                answer = json.loads(await fourth.reader.readline())
                await fourth.close()
                if "result" in answer:
                    break
                await asyncio.sleep(0.05)
        assert "result" in await second.call("initialize", request_id=2)
        await second.close()

    try:
        asyncio.run(main())
    finally:
        code, _took = server.terminate()
    assert code == 0 and "Traceback" not in server.stderr()


# -- SIGTERM ----------------------------------------------------------------------------------------
def _clean_exit(server: LoggedServer, limit_s: float = 5.0) -> None:
    code, took = server.terminate()
    stderr = server.stderr()
    assert code == 0 and took < limit_s, f"exit {code} after {took:.1f} s: {stderr}"
    assert "Traceback" not in stderr and "destroyed" not in stderr, stderr


def test_sigterm_ends_a_busy_tcp_server_quickly_and_quietly(tmp_path: Path) -> None:
    server, address = start(tmp_path, "--simulator", "--simulator-pace", "1", "--live-ws", "127.0.0.1:0")

    async def main() -> None:
        client = await MobkatClient().connect(tcp=address)
        created = await client.create_session("hello", model="gpt-realtime-2")
        opened = await client.live_open(created.session_id)
        assert opened.transport.url is not None
        stalled = await websockets.connect(opened.transport.url, max_queue=1, ping_interval=None)  # never read
        await client.live_send_input_text(opened.channel_id, "tell me a long story " * 20)
        turn = asyncio.create_task(client.create_session("a long answer please " * 50, model="gpt-realtime-2"))
        flood = await Wire.open(address)
        flood.writer.write(b"".join(CATALOG % i for i in range(50_000)))  # replies never read
        with contextlib.suppress(ConnectionError, OSError, TimeoutError):
            await asyncio.wait_for(flood.writer.drain(), 1.0)
        await asyncio.to_thread(_clean_exit, server)
        turn.cancel()
        flood.abort()
        for closing in (client.close(), stalled.close()):
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                await asyncio.wait_for(closing, 5)

    try:
        asyncio.run(main())
    finally:
        server.kill()


def test_sigterm_ends_a_busy_stdio_server_quickly_and_quietly(tmp_path: Path) -> None:
    server = LoggedServer(["--simulator", "--isolated", "--state-root", str(tmp_path)], tmp_path / "stderr.log",
                          stdin=subprocess.PIPE)
    stdin = server.process.stdin
    assert stdin is not None
    written = 0
    enough = threading.Event()

    def flood() -> None:  # pipelined requests; nobody reads stdout, so the server is soon blocked on it
        nonlocal written
        try:
            for start_id in range(0, 10**7, 1000):
                stdin.write(b"".join(CATALOG % i for i in range(start_id, start_id + 1000)))
                stdin.flush()
                written += 1000
                if written >= 20_000:
                    enough.set()
        except (BrokenPipeError, ValueError, OSError):
            enough.set()

    threading.Thread(target=flood, daemon=True).start()
    try:
        assert enough.wait(30)
        _clean_exit(server)
    finally:
        server.kill()


# -- --allow-remote ---------------------------------------------------------------------------------
def test_allow_remote_warns_that_the_port_is_unauthenticated(tmp_path: Path) -> None:
    server = LoggedServer(["--simulator", "--tcp", "0.0.0.0:0", "--live-ws", "0.0.0.0:0", "--allow-remote",
                           "--isolated", "--state-root", str(tmp_path)], tmp_path / "open.log")
    try:
        server.wait_for(LISTENING)
        tcp = server.wait_for(r"(WARNING: --tcp 0\.0\.0\.0:\d+ is reachable from other hosts and is NOT authenticated)")
        live = server.wait_for(r"(WARNING: --live-ws 0\.0\.0\.0:\d+ is reachable from other hosts and is NOT "
                               r"authenticated)")
        assert "--auth-token-file" in server.stderr() and tcp and live
        _clean_exit(server)
    finally:
        server.kill()
    secret = tmp_path / "token"
    secret.write_text("s3cret\n")
    guarded = LoggedServer(["--tcp", "0.0.0.0:0", "--allow-remote", "--auth-token-file", str(secret),
                            "--isolated", "--state-root", str(tmp_path)], tmp_path / "guarded.log")
    try:
        guarded.wait_for(r"(--tcp 0\.0\.0\.0:\d+ is reachable from other hosts; it is protected by the token)")
        assert "NOT authenticated" not in guarded.stderr() and "s3cret" not in guarded.stderr()
        _clean_exit(guarded)
    finally:
        guarded.kill()
