"""``mobkat console --connect``: the browser console attached to a real ``mobkat rpc`` server process."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobkat.cli.console import start_remote_console
from mobkat.client import MobkatClient
from mobkat.history import UserRow
from mobkat.runtime import AsyncRuntime
from tests.console.conftest import LIVE_DEMO, Spoken
from tests.console.test_console_browser import talk, wait_dataset
from tests.rpc.helpers import StderrLines, TcpServer, server_env

TOKEN = "remote-console-secret-0123456789"
MOB = "live-demo"


@pytest.fixture(scope="module")
def rpc() -> Iterator[AsyncRuntime]:
    """A loop of its own for the test's RPC calls (Playwright's sync API holds the main thread's)."""
    runtime = AsyncRuntime("remote-console-test")
    runtime.start()
    yield runtime
    runtime.stop()


def definition() -> dict[str, Any]:
    """mobs/live-demo.toml, with the researcher open to host messages (the console's text box uses mob/member_send)."""
    data = tomllib.loads(LIVE_DEMO.read_text())
    data["profiles"]["researcher"]["external_addressable"] = True
    return data


async def _create(address: str, token: str | None) -> None:
    client = await MobkatClient(auth_token=token).connect(tcp=address)
    try:
        mob = await client.create_mob(definition())
        entries = await mob.spawn_many([{"profile": "host", "agent_identity": "host"},
                                        {"profile": "researcher", "agent_identity": "researcher"}])
        assert all(entry.status == "spawned" for entry in entries), entries
    finally:
        await client.close()


async def _wait_user_row(address: str, token: str | None, member: str, text: str, timeout: float = 30.0) -> None:
    """Wait (on the mob's event stream, no fixed sleep) until ``member``'s committed history has a user row
    containing ``text``, read over RPC."""
    client = await MobkatClient(auth_token=token).connect(tcp=address)
    try:
        mob = client.mob(MOB)
        async with mob.events() as events:
            deadline = time.monotonic() + timeout
            while True:
                rows = (await mob.member(member).history()).messages
                if any(isinstance(row, UserRow) and text in row.content for row in rows):
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{member}'s history never got {text!r}: {rows}")
                try:
                    await asyncio.wait_for(anext(events), min(remaining, 1.0))
                except TimeoutError:
                    pass
    finally:
        await client.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, rpc: AsyncRuntime) -> Iterator[TcpServer]:
    root = tmp_path_factory.mktemp("remote-console")
    token_file = root / "token"
    token_file.write_text(TOKEN)
    tcp = TcpServer(["--simulator", "--live-ws", "127.0.0.1:0", "--state-root", str(root / "state"),
                     "--auth-token-file", str(token_file)])
    try:
        rpc.run(_create(tcp.address, TOKEN), timeout=30)
    except BaseException:
        tcp.stop()
        raise
    yield tcp
    assert tcp.stop() == 0


def test_cards_text_and_push_to_talk(server: TcpServer, rpc: AsyncRuntime, browser: Any, spoken: Spoken) -> None:
    console = start_remote_console(_split(server.address), auth_token=TOKEN, mob_id=MOB)
    context = browser.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.goto(console.url)
        page.wait_for_selector("body[data-connected=true]")
        page.wait_for_selector("[data-testid=member-researcher]")
        wait_dataset(page, "host", "d.status === 'idle'")  # its live channel is attached
        assert page.is_enabled("[data-testid=talk-host]")
        assert TOKEN not in page.content()  # the server's secret stays in the console process

        page.fill("[data-testid=say-researcher]", "what do meerkats eat?")
        page.press("[data-testid=say-researcher]", "Enter")
        rpc.run(_wait_user_row(server.address, TOKEN, "researcher", "what do meerkats eat?"), timeout=40)
        page.locator("[data-testid=transcript-researcher] p.assistant").first.wait_for()  # its reply shows

        talk(page, "host", spoken)
        rpc.run(_wait_user_row(server.address, TOKEN, "host", spoken.text), timeout=40)
    finally:
        context.close()
        console.stop()


def test_without_live_ws_talk_is_off_with_a_reason(tmp_path: Path, rpc: AsyncRuntime, browser: Any) -> None:
    plain = TcpServer(["--simulator", "--state-root", str(tmp_path / "state")])
    cli: subprocess.Popen[bytes] | None = None
    try:
        rpc.run(_create(plain.address, None), timeout=30)
        cli = subprocess.Popen([sys.executable, "-m", "mobkat", "console", "--connect", f"tcp://{plain.address}"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=server_env())
        assert cli.stdout is not None
        out = StderrLines(cli.stdout)
        assert "--live-ws" in out.wait_for(r"push-to-talk is off: (.*)")
        url = out.wait_for(r"console: (http://\S+)")
        context = browser.new_context(bypass_csp=True)
        try:
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            page.wait_for_selector("[data-testid=member-researcher]")
            wait_dataset(page, "host", "d.talkBlocked.includes('--live-ws')")
            assert page.is_disabled("[data-testid=talk-host]")
            assert "--live-ws" in (page.get_attribute("[data-testid=talk-host]", "title") or "")
        finally:
            context.close()
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(15) == 0
    finally:
        if cli is not None and cli.poll() is None:
            cli.kill()
            cli.wait()
        assert plain.stop() == 0


def _console(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mobkat", "console", *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env=server_env(), timeout=30)


def test_unreachable_server_is_a_one_line_error() -> None:
    result = _console("--connect", "tcp://127.0.0.1:9")  # a closed port below the ephemeral range
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot connect to mobkat rpc at tcp://127.0.0.1:9" in result.stderr
    bad = _console("--connect", "http://127.0.0.1:9")
    assert bad.returncode == 2 and "only tcp://HOST:PORT" in bad.stderr


def test_wrong_auth_token_is_a_one_line_error(server: TcpServer, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-secret")
    result = _console("--connect", f"tcp://{server.address}", "--auth-token-file", str(wrong))
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1 and "refused the console" in result.stderr, result.stderr
    assert "not-the-secret" not in result.stderr
    missing = _console("--connect", f"tcp://{server.address}", "--mob", "nope", "--auth-token-file",
                       str(_token_file(tmp_path)))
    assert missing.returncode == 1 and "has no mob 'nope' (mobs: live-demo)" in missing.stderr, missing.stderr


def _token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    assert re.fullmatch(r"\d+", port)
    return host, int(port)
