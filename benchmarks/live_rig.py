"""The three processes of the live benchmarks, and matching their timestamps.

- **this process** runs the simulator (the provider's stand-in) on its own loop thread, so its
  stats — when each client event arrived, when each server frame left — are read directly;
- **the server**: a real ``python -m mobkat rpc --tcp … --live-ws …`` child process, pointed at the
  simulator by a project config (``[providers.openai] base_url``), as an operator would point it
  at OpenAI; ``MOBKAT_SIMULATOR`` and ``OPENAI_API_KEY`` are removed from its environment;
- **the client**: ``python -m benchmarks.live_client``, driven by JSON lines.

All three stamp with ``time.monotonic()``, which on Linux is ``CLOCK_MONOTONIC``: one clock for
every process on the machine, so a client's send time and the simulator's receive time subtract.
"""

from __future__ import annotations

import base64
import gc
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import zlib
from collections import deque
from pathlib import Path
from types import TracebackType
from typing import Any

from mobkat.simulator import Simulator, SimulatorScript

ROOT = Path(__file__).resolve().parents[1]
APPEND = "input_audio_buffer.append"
AUDIO_DELTA = '"response.output_audio.delta"'
START_TIMEOUT_S = 30.0
SIM_KEY_ENV = "MOBKAT_BENCH_SIM_KEY"


class SimView:
    """A snapshot of the simulator's stats, grouped by connection."""

    def __init__(self, sim: Simulator) -> None:
        stats = sim.stats
        self._appends: dict[int, list[tuple[float, int]]] = {}
        self._received: dict[tuple[int, str], list[float]] = {}
        for event in stats.client_events:
            if event.type == APPEND:
                self._appends.setdefault(event.connection, []).append((event.received_at, event.audio_bytes))
            else:
                self._received.setdefault((event.connection, event.type), []).append(event.received_at)
        self._frames = stats.server_frames
        self._times = stats.server_frame_times

    def connection_of(self, marker_bytes: int) -> int | None:
        """The newest connection whose first audio append carried ``marker_bytes`` of pcm."""
        found = [conn for conn, appends in self._appends.items() if appends[0][1] == marker_bytes]
        return max(found) if found else None

    def appends(self, connection: int) -> list[tuple[float, int]]:
        """(received at, pcm bytes) of each audio append on ``connection``, the marker left out."""
        return self._appends.get(connection, [])[1:]

    def received(self, connection: int, event_type: str) -> list[float]:
        return self._received.get((connection, event_type), [])

    def audio_sent(self, connection: int) -> list[tuple[float, int]]:
        """(handed to the socket at, crc of the pcm) of every audio delta sent on ``connection``."""
        frames, times = self._frames.get(connection, []), self._times.get(connection, [])
        return [(sent, zlib.crc32(base64.b64decode(json.loads(raw)["delta"])))
                for raw, sent in zip(frames, times, strict=True) if AUDIO_DELTA in raw]


class SimHost:
    """The simulator at real-time pace (100 ms of reply audio per 100 ms of wall time)."""

    def __init__(self) -> None:
        self.sim = Simulator(script=SimulatorScript(pace=1.0), record_frames=True).start()

    def stop(self) -> None:
        self.sim.stop()

    def view(self) -> SimView:
        return SimView(self.sim)

    def _firsts(self) -> dict[int, int]:
        firsts: dict[int, int] = {}
        for event in self.sim.stats.client_events:
            if event.type == APPEND:
                firsts.setdefault(event.connection, event.audio_bytes)
        return firsts

    def connection_of(self, marker_bytes: int, timeout: float = 10.0) -> int:
        """Wait for the newest connection whose first audio append carries ``marker_bytes`` of pcm."""
        if not self.sim.stats.wait_for(lambda _: marker_bytes in self._firsts().values(), timeout):
            raise RuntimeError(f"no simulator connection started with a {marker_bytes}-byte marker frame")
        return max(conn for conn, size in self._firsts().items() if size == marker_bytes)

    def wait_appended(self, connection: int, total_bytes: int, timeout: float = 10.0) -> bool:
        """Wait until ``connection`` got ``total_bytes`` of audio after its marker; False on timeout."""
        def done(_: Any) -> bool:
            sizes = [e.audio_bytes for e in self.sim.stats.client_events
                     if e.connection == connection and e.type == APPEND]
            return sum(sizes[1:]) >= total_bytes

        return self.sim.stats.wait_for(done, timeout)


def ingress(appends: list[tuple[float, int]], sent: list[float], frame_bytes: int) -> list[float]:
    """Seconds from each frame's send to the simulator receiving the append that completed it.

    ``appends`` and ``sent`` cover the connection from its first frame after the marker; a server
    may join adjacent frames into one append (never split one), so frames are matched by the
    running byte count. A frame that never arrived counts as ``inf``.
    """
    delays: list[float] = []
    queue = deque(appends)
    received = 0
    arrived_at = 0.0
    for index, sent_at in enumerate(sent):
        end = (index + 1) * frame_bytes
        while received < end and queue:
            arrived_at, size = queue.popleft()
            received += size
        delays.append(arrived_at - sent_at if received >= end else math.inf)
    return delays


def egress(sent: list[tuple[float, int]], heard: list[tuple[float, int]], cursor: int = 0
           ) -> tuple[list[float], int, int]:
    """Seconds from the simulator sending each delta to the client having it, matched in order by crc
    from ``sent[cursor]`` on; also how many sent deltas the client never got, and the new cursor."""
    delays: list[float] = []
    missed = 0
    for received_at, crc in heard:
        start = cursor
        while cursor < len(sent) and sent[cursor][1] != crc:
            cursor += 1
        if cursor == len(sent):
            raise RuntimeError("a client audio chunk matches no audio delta the simulator sent")
        missed += cursor - start
        delays.append(received_at - sent[cursor][0])
        cursor += 1
    return delays, missed, cursor


class ServerProcess:
    """``mobkat rpc`` serving TCP JSON-RPC and live WebSockets, its provider endpoint the simulator."""

    def __init__(self, sim_base_url: str, *extra: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="mobkat-bench-live-")
        root = Path(self._tmp.name)
        (root / "ctx" / ".mobkat").mkdir(parents=True)
        (root / "user").mkdir()
        (root / "ctx" / ".mobkat" / "config.toml").write_text(
            f'[providers.openai]\nbase_url = "{sim_base_url}"\napi_key_env = "{SIM_KEY_ENV}"\n')
        env = {k: v for k, v in os.environ.items() if k not in ("MOBKAT_SIMULATOR", "OPENAI_API_KEY")}
        env.update({SIM_KEY_ENV: "sk-sim", "OPENAI_BASE_URL": sim_base_url})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mobkat", "rpc", "--tcp", "127.0.0.1:0", "--live-ws", "127.0.0.1:0", "--isolated",
             "--realm-backend", "memory", "--state-root", str(root / "state"), "--context-root", str(root / "ctx"),
             "--user-config-root", str(root / "user"), *extra],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True, cwd=ROOT)
        self.tcp = ""

    def wait_ready(self) -> ServerProcess:
        """Wait for the TCP banner (the live-ws listener is bound before it)."""
        self.tcp = self._wait_for_tcp()
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _wait_for_tcp(self) -> str:
        assert self.process.stderr is not None
        seen: list[str] = []
        timer = threading.Timer(START_TIMEOUT_S, self.process.kill)
        timer.start()
        try:
            for line in self.process.stderr:
                seen.append(line)
                match = re.search(r"listening on tcp://(\S+)", line)
                if match:
                    return match.group(1)
        finally:
            timer.cancel()
        raise RuntimeError("mobkat rpc did not start:\n" + "".join(seen[-40:]))

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for _line in self.process.stderr:
            pass

    def terminate(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.terminate()

    def stop(self) -> None:
        self.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._tmp.cleanup()


class ClientProcess:
    """``python -m benchmarks.live_client``: one JSON command per line, one JSON answer per line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "benchmarks.live_client"], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, cmd: str, **params: Any) -> dict[str, Any]:
        """Run one command. Meanwhile this process (the simulator's) collects no garbage: a full
        collection over the frames it records stalls its loop for tens of ms, a stand-in's cost."""
        assert self.process.stdin is not None and self.process.stdout is not None
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            self.process.stdin.write(json.dumps({"cmd": cmd, **params}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        finally:
            gc.enable()
        if not line:
            raise RuntimeError(f"the live client process ended during {cmd!r} (exit {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"live client: {answer['error']}")
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("close")
            except (RuntimeError, OSError, ValueError):
                pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LiveRig:
    """Simulator here, ``mobkat rpc`` and the client in child processes; ``with LiveRig() as rig``."""

    def __init__(self, *server_args: str) -> None:
        self.server_args = server_args
        self.sim: SimHost | None = None
        self.server: ServerProcess | None = None
        self.client: ClientProcess | None = None

    def __enter__(self) -> LiveRig:
        try:
            self.sim = SimHost()
            self.server = ServerProcess(self.sim.sim.base_url, *self.server_args)
            self.client = ClientProcess()  # both children start (import) at once
            self.client.call("setup", tcp=self.server.wait_ready().tcp, sim=self.sim.sim.base_url)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.terminate()  # it shuts down while the client closes its connections
        for part in (self.client, self.server, self.sim):
            if part is not None:
                part.stop()
