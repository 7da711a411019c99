"""Resource bounds: a live socket reader that stops reading gets back-pressure, not an ever-growing server.

Runs for ``MOBKAT_SLOW_CONSUMER_S`` seconds (5 in the plain test run; ``.ci/run`` uses 60). Memory is
measured from the point where the bounded buffers have filled (the first fifth of the run) to the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets

from mobkat.client import MobkatClient
from tests.rpc.helpers import TcpServer, server_env

DURATION_S = float(os.environ.get("MOBKAT_SLOW_CONSUMER_S", "5"))
LONG_TEXT = "tell me everything about " + "the lighthouse keeper and the sea " * 54


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[TcpServer]:
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(tmp_path), "--realm", "slow"],
                    env=server_env())
    yield tcp
    tcp.stop()


def test_a_reader_that_stops_reading_gets_backpressure_and_memory_stays_bounded(server: TcpServer) -> None:
    async def main() -> None:
        async with await MobkatClient().connect(tcp=server.address) as client:
            created = await client.create_session("hello", model="gpt-realtime-2")
            opened = await client.live_open(created.session_id)
            assert opened.transport.url is not None
            # a raw socket we never read from, with tiny buffers so the server sees the stall quickly
            async with websockets.connect(opened.transport.url, max_queue=1, ping_interval=None) as stalled:
                await client.live_send_input_text(opened.channel_id, "warm up")
                await asyncio.sleep(1.0)
                started = time.monotonic()
                deadline = started + DURATION_S
                fill_s = max(2.0, DURATION_S / 5)  # the bounded buffers fill first, by design
                before: int | None = None
                sent = 0
                while time.monotonic() < deadline:
                    if before is None and time.monotonic() - started >= fill_s:
                        before = rss_bytes(server.process.pid)
                    await client.live_send_input_text(opened.channel_id, f"{LONG_TEXT} {sent}")
                    sent += 1
                    await asyncio.sleep(0.25)
                assert before is not None
                grown = rss_bytes(server.process.pid) - before
                assert grown < 10 * 1024 * 1024, f"server RSS grew by {grown / 2**20:.1f} MiB"
                assert (await client.live_status(opened.channel_id)).status == "ready"
                rejected = 0
                async with asyncio.timeout(30):
                    async for frame in stalled:
                        observation = json.loads(frame)
                        reason = observation.get("code", {}).get("reason") or {}
                        if observation["observation"] == "command_rejected" and \
                                reason.get("kind") == "output_backpressured":
                            assert reason["dropped"] > 0 and "too slow" in observation["message"]
                            rejected += 1
                            break
                assert rejected, "the slow reader was never told it lost observations"
                assert sent > 0

    asyncio.run(main())
