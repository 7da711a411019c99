"""``--auth-token-file``: the TCP port and the live WebSocket demand the token; stdio does not."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from mobkat.client import LiveSocketRejected, MobkatClient, Unauthenticated
from mobkat.rpc.host import ServerHost
from mobkat.rpc.server import Connection, ConnectionLimits
from tests.rpc.helpers import LINE_LIMIT, RawRpc, TcpServer, server_env

SECRET = "correct horse battery staple"


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("auth") / "token"
    path.write_text(SECRET + "\n")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, token_file: Path) -> Iterator[TcpServer]:
    state = tmp_path_factory.mktemp("auth-state")
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--auth-token-file", str(token_file),
                     "--state-root", str(state), "--isolated"], env=server_env())
    yield tcp
    assert tcp.stop() == 0
    assert SECRET not in "".join(tcp.stderr.seen)


class Wire:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.next_id = reader, writer, 0

    @classmethod
    async def open(cls, address: str) -> Wire:
        host, _, port = address.rpartition(":")
        return cls(*await asyncio.open_connection(host, int(port), limit=LINE_LIMIT))

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        line = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        self.writer.write(json.dumps(line).encode() + b"\n")
        await self.writer.drain()
        answer: dict[str, Any] = json.loads(await asyncio.wait_for(self.reader.readline(), 20))
        assert answer["id"] == self.next_id, answer
        return answer

    async def eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) == b""

    def close(self) -> None:
        self.writer.close()


def _refused(answer: dict[str, Any], code: str) -> str:
    error = answer["error"]
    assert error["code"] == -32040 and error["data"]["kind"] == code, answer
    assert SECRET not in json.dumps(answer)
    return str(error["message"])


def test_tcp_requests_need_the_token_first(server: TcpServer) -> None:
    async def main() -> None:
        wire = await Wire.open(server.address)
        message = _refused(await wire.call("session/list"), "unauthenticated")
        assert 'initialize {"auth_token": "<secret>"}' in message and "--auth-token-file" in message
        _refused(await wire.call("nope/never"), "unauthenticated")  # the method table is not revealed either
        _refused(await wire.call("initialize"), "unauthenticated")  # no token: still open, may try again
        hello = await wire.call("initialize", {"auth_token": SECRET})
        assert hello["result"]["contract_version"].startswith("0.8")
        assert "sessions" in (await wire.call("session/list"))["result"]
        wire.close()

        wrong = await Wire.open(server.address)
        _refused(await wrong.call("initialize", {"auth_token": SECRET + "x"}), "auth_failed")
        assert await wrong.eof()  # a wrong token ends the connection

        not_a_string = await Wire.open(server.address)
        _refused(await not_a_string.call("initialize", {"auth_token": ["nope"]}), "auth_failed")
        assert await not_a_string.eof()

    asyncio.run(main())


def test_the_client_sdk_presents_the_token(server: TcpServer) -> None:
    async def main() -> None:
        with pytest.raises(Unauthenticated) as refused:
            await MobkatClient().connect(tcp=server.address)
        assert refused.value.code == "unauthenticated" and refused.value.rpc_code == -32040
        with pytest.raises(Unauthenticated) as wrong:
            await MobkatClient(auth_token="guess").connect(tcp=server.address)
        assert wrong.value.code == "auth_failed"
        async with await MobkatClient(auth_token=SECRET).connect(tcp=server.address) as client:
            created = await client.create_session("hello", model="gpt-realtime-2")
            opened = await client.live_open(created.session_id)
            async with client.live_connect(opened) as socket:  # the SDK sends the token on the socket too
                await socket.send_text("over the socket")
                done = await socket.wait_for("turn_completed")
                assert done.observation == "turn_completed"

    asyncio.run(main())


def test_the_live_socket_needs_the_token_and_a_refusal_does_not_spend_the_channel_token(server: TcpServer) -> None:
    async def main() -> None:
        async with await MobkatClient(auth_token=SECRET).connect(tcp=server.address) as client:
            created = await client.create_session("hello", model="gpt-realtime-2")
            opened = await client.live_open(created.session_id)
            url = opened.transport.url
            assert url is not None and SECRET not in url
            for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}):
                with pytest.raises(InvalidStatus) as refused:
                    async with websockets.connect(url, additional_headers=headers):
                        pass
                assert refused.value.response.status_code == 401
                assert refused.value.response.headers["WWW-Authenticate"].startswith("Bearer")
            with pytest.raises(LiveSocketRejected) as sdk_refused:
                async with MobkatClient().live_connect(opened):
                    pass
            assert sdk_refused.value.code == "unauthenticated" and sdk_refused.value.error == "http_401"
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {SECRET}"}) as ws:
                first = json.loads(await ws.recv())  # the channel token still works: 401s did not spend it
                assert first["observation"] in ("status_changed", "ready")
            await client.live_close(opened.channel_id)

            again = await client.live_open(created.session_id)
            assert again.transport.url is not None
            async with websockets.connect(f"{again.transport.url}&auth_token={SECRET.replace(' ', '%20')}") as ws:
                first = json.loads(await ws.recv())  # for clients that cannot set headers (browsers)
                assert first["observation"] in ("status_changed", "ready")

    asyncio.run(main())


def test_stdio_needs_no_token(token_file: Path) -> None:
    async def main() -> None:
        rpc = await RawRpc.start("--simulator", "--auth-token-file", str(token_file))
        try:
            assert (await rpc.result("initialize", {}))["contract_version"].startswith("0.8")
            assert (await rpc.result("session/list", {}))["sessions"] == []
        finally:
            assert await rpc.close() == 0

    asyncio.run(main())


def test_a_connection_that_does_not_authenticate_in_time_is_closed() -> None:
    async def main() -> None:
        never = asyncio.Event()
        written: list[dict[str, Any]] = []

        async def read() -> bytes:  # a peer that connects and says nothing
            await never.wait()
            return b""

        async def write(line: bytes) -> None:
            written.append(json.loads(line))

        connection = Connection(cast(ServerHost, None), read, write, "silent", auth_token=SECRET,
                                limits=ConnectionLimits(auth_timeout_s=0.2))
        await asyncio.wait_for(connection.serve(), 5)  # serve() returns: the connection is over
        assert len(written) == 1 and written[0]["id"] is None
        assert written[0]["error"]["code"] == -32040 and written[0]["error"]["data"]["kind"] == "unauthenticated"
        assert "within 0.2 s" in written[0]["error"]["message"]

    asyncio.run(main())
