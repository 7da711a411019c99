"""The console's server without a browser: the token gate, the origin check, and hostile frames."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from mobkat.console import Console
from mobkat.console.wire import MAX_TEXT_FRAME_BYTES, TRANSPORT_MAX_BYTES
from mobkat.mob.mob import Mob
from tests.console.conftest import LIVE_DEMO


@pytest.fixture(scope="module")
def served() -> Iterator[Console]:
    with Mob.from_toml(LIVE_DEMO, simulator=True) as mob:
        mob.spawn_members()
        mob.wait_for_event(lambda e: e.type == "live_opened", timeout=20)
        with Console(mob) as console:
            yield console


def ws_url(console: Console, token: str | None) -> str:
    base = f"ws://127.0.0.1:{console.port}/ws"
    return base if token is None else f"{base}?token={token}"


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def next_frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next frame of type ``kind`` (cards and other traffic are skipped)."""
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame["type"] == kind:
            return frame


def test_the_page_needs_the_runs_token(served: Console) -> None:
    root = f"http://127.0.0.1:{served.port}/"
    assert urlsplit(served.url).hostname == "127.0.0.1"  # loopback by default
    assert status_of(root) == 401
    assert status_of(root + "?token=wrong") == 401
    with urllib.request.urlopen(served.url, timeout=5) as response:
        assert response.status == 200
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        assert 'data-testid="peer-log"' in response.read().decode()


def test_the_socket_needs_the_token_and_this_origin(served: Console) -> None:
    for token in (None, "wrong"):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(served, token), open_timeout=5)
        assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as foreign:
        connect(ws_url(served, served.token), origin="http://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert foreign.value.response.status_code == 403
    with connect(ws_url(served, served.token), open_timeout=5) as ws:
        hello = next_frame(ws, "hello")
        assert hello["mob_id"] == "live-demo"
        assert {card["name"] for card in hello["members"]} == {"host", "researcher"}


def test_hostile_frames_get_typed_errors_and_the_server_survives(served: Console) -> None:
    with connect(ws_url(served, served.token), open_timeout=5, max_size=None) as ws:
        next_frame(ws, "hello")
        cases = [
            ("x" * (MAX_TEXT_FRAME_BYTES + 1), "frame_too_large"),
            ("{not json", "bad_json"),
            ("[1, 2]", "invalid_frame"),
            (json.dumps({"type": "launch_missiles"}), "unknown_type"),
            (json.dumps({"type": "say", "member": "host"}), "invalid_frame"),
            (json.dumps({"type": "say", "member": "host", "text": "hi", "extra": 1}), "invalid_frame"),
            (json.dumps({"type": "talk", "member": "researcher", "on": True}), "not_live"),
            (json.dumps({"type": "say", "member": "nobody", "text": "hi"}), "member_not_found"),
            (b"\x00\x01\x02", "invalid_audio"),
            (b"\x00\x00" * 10, "not_talking"),
            (b"\x00" * 200_000, "frame_too_large"),
        ]
        for frame, code in cases:
            ws.send(frame)
            error = next_frame(ws, "error")
            assert error["code"] == code, (frame[:40], error)
            assert error["message"]
        ws.send(json.dumps({"type": "say", "member": "researcher", "text": "still there?"}))
        assert next_frame(ws, "line")["text"] == "still there?"
    with connect(ws_url(served, served.token), open_timeout=5, max_size=None) as ws:
        next_frame(ws, "hello")
        ws.send(b"\x00" * (TRANSPORT_MAX_BYTES + 2))  # past the transport's limit: the socket is closed
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    with connect(ws_url(served, served.token), open_timeout=5) as ws:  # and the console still serves
        assert next_frame(ws, "hello")["mob_id"] == "live-demo"


def test_a_page_that_joins_late_gets_the_recent_lines(served: Console) -> None:
    with connect(ws_url(served, served.token), open_timeout=5) as ws:
        next_frame(ws, "hello")
        ws.send(json.dumps({"type": "say", "member": "researcher", "text": "hello lantern"}))
        while next_frame(ws, "line")["text"] != "You said: hello lantern":  # (older lines are replayed first)
            pass
    with connect(ws_url(served, served.token), open_timeout=5) as late:
        next_frame(late, "hello")
        lines = [next_frame(late, "line")]
        while lines[-1]["text"] != "You said: hello lantern":
            lines.append(next_frame(late, "line"))
        assert lines[-2] == {"type": "line", "member": "researcher", "role": "user", "text": "hello lantern"}
        assert lines[-1] == {"type": "line", "member": "researcher", "role": "assistant",
                             "text": "You said: hello lantern"}


def test_cards_follow_a_restart(served: Console) -> None:
    with connect(ws_url(served, served.token), open_timeout=5) as ws:
        before = next(c for c in next_frame(ws, "hello")["members"] if c["name"] == "researcher")
        served.mob.member("researcher").crash("drill")
        while True:
            card = next_frame(ws, "card")
            if card["name"] == "researcher" and card["generation"] == before["generation"] + 1:
                break
        line = next_frame(ws, "line")
        assert line["member"] == "researcher" and line["role"] == "system" and "drill" in line["text"]
        assert line["text"].startswith(f"restarted (generation {before['generation'] + 1})")
