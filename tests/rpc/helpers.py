"""Helpers for tests that start the real server process: raw JSONL access and TCP servers."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

SERVER = [sys.executable, "-m", "mobkat", "rpc"]
LINE_LIMIT = 64 * 1024 * 1024 + 1024


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a server: no real credentials, no inherited simulator switch."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "MOBKAT_SIMULATOR")}
    env.update(extra)
    return env


async def poll_mob_events(read: Callable[[int], Awaitable[list[dict[str, Any]]]],
                          match: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
    """The first mob event whose kind matches, reading ``mob/events`` pages with ``read(after_cursor)``."""
    cursor = 0
    async with asyncio.timeout(timeout):
        while True:
            events = await read(cursor)
            for event in events:
                if match(event["kind"]):
                    return event
            if events:
                cursor = events[-1]["cursor"]
            else:
                await asyncio.sleep(0.05)  # poll interval; the deadline above bounds the wait


class RawRpc:
    """A server on stdio driven line by line (for malformed input and exact wire checks)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 1000
        self.notifications: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, *flags: str, env: dict[str, str] | None = None) -> RawRpc:
        process = await asyncio.create_subprocess_exec(
            *SERVER, *flags, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=LINE_LIMIT, env=env or server_env())
        return cls(process)

    async def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.process.stdin is not None
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def recv(self, timeout: float = 20.0) -> dict[str, Any]:
        """The next response (notifications are collected in :attr:`notifications`)."""
        assert self.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            assert line, "the server closed stdout"
            message: dict[str, Any] = json.loads(line)  # stdout must only ever carry JSON
            if "id" in message:
                return message
            self.notifications.append(message)

    async def call(self, method: str, params: Any = None, timeout: float = 20.0) -> dict[str, Any]:
        """Send a request and return its whole response object."""
        self._next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.send(request)
        response = await self.recv(timeout)
        assert response["id"] == self._next_id, response
        return response

    async def result(self, method: str, params: Any = None) -> Any:
        response = await self.call(method, params)
        assert "error" not in response, response
        return response["result"]

    async def close(self) -> int:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            return await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


class StderrLines:
    """A server's stderr, pumped line by line by a thread; :meth:`wait_for` a start-up line in it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._lines.put(raw.decode(errors="replace"))
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The first group of ``pattern`` in the next matching line; fails if the server exits first."""
        while True:
            line = self._lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"server exited: {''.join(self.seen)}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found.group(1)

    def tail(self, lines: int = 60, timeout: float = 10.0) -> str:
        """The last ``lines`` lines of stderr, once the server has exited (for a failing stop's message)."""
        try:
            while (line := self._lines.get(timeout=timeout)) is not None:
                self.seen.append(line)
        except queue.Empty:
            self.seen.append("[stderr still open]\n")
        return "".join(self.seen[-lines:])


class TcpServer:
    """``mobkat rpc --tcp 127.0.0.1:0`` in the background; knows its port from the startup line."""

    def __init__(self, flags: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen([*SERVER, "--tcp", "127.0.0.1:0", *flags], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env or server_env())
        assert self.process.stderr is not None
        self.stderr = StderrLines(self.process.stderr)
        self.address = self.stderr.wait_for(r"listening on tcp://(\S+) ")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait: a clean stop exits 0."""
        self.process.terminate()
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``mobkat rpc ARGS`` without waiting; stdin is ``/dev/null`` or the given file."""
    source = stdin.open("rb") if stdin is not None else subprocess.DEVNULL
    return subprocess.Popen([*SERVER, *args], stdin=source, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env or server_env())


def wav_of(tmp_path: Path, text: str) -> Path:
    """``text`` spoken in the simulator's codec, with trailing silence, as a WAV file."""
    from mobkat.audio import encode_speech, silence, write_wav

    path = tmp_path / "speech.wav"
    write_wav(path, encode_speech(text) + silence(800))
    return path


class LoggedServer:
    """``mobkat rpc FLAGS`` with stderr in a file (readable after exit, e.g. to look for tracebacks)."""

    def __init__(self, flags: Sequence[str], log: Path, env: dict[str, str] | None = None,
                 stdin: int | IO[bytes] | None = subprocess.DEVNULL) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen([*SERVER, *flags], stdin=stdin, stdout=subprocess.PIPE,
                                        stderr=self._log_file, env=env or server_env())

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 30.0) -> str:
        """The first group of ``pattern`` once it appears on stderr; fails if the server exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.stderr())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise AssertionError(f"server exited ({self.process.returncode}): {self.stderr()}")
            time.sleep(0.02)  # polling a file; the deadline bounds the wait
        raise AssertionError(f"no {pattern!r} on stderr within {timeout} s: {self.stderr()}")

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        """SIGTERM; the exit code and how long the exit took (killed and failed past ``timeout``)."""
        started = time.monotonic()
        self.process.terminate()
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"no exit within {timeout} s of SIGTERM: {self.stderr()}") from None
        finally:
            self._log_file.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


def exit_of(process: subprocess.Popen[bytes], timeout: float = 60.0) -> tuple[int, list[str]]:
    """Wait for a process that must exit by itself (e.g. a refused start): its code and stderr lines.

    If it is still running after ``timeout`` it is killed and the test fails (never left behind)."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"still running after {timeout} s: {stderr.decode(errors='replace')}") from None
    return process.returncode, stderr.decode(errors="replace").strip().splitlines()
