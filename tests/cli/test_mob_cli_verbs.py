"""``mobkat mob ...`` against a real ``mobkat rpc --tcp`` server (with an auth token), issue #15 C."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rpc.helpers import TcpServer, server_env

CREW = """
[mob]
id = "crew"
orchestrator = "lead"

[profiles.lead]
model = "gpt-5.5"
external_addressable = true
[profiles.lead.tools]
mob = true
[profiles.lead.tools.mob_limits]
profiles = ["worker"]

[profiles.worker]
model = "gpt-5.5"
runtime_mode = "turn_driven"

[wiring]
auto_wire_orchestrator = true

[flows.review]
[flows.review.steps.write]
role = "worker"
message = "Write one line about {{ params.topic }}."
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TcpServer, Path]]:
    root = tmp_path_factory.mktemp("mob-cli")
    token = root / "token"
    token.write_text("s3cret\n")
    tcp = TcpServer(["--simulator", "--state-root", str(root / "state"), "--auth-token-file", str(token)])
    yield tcp, token
    assert tcp.stop() == 0


def _cmd(server: tuple[TcpServer, Path], *args: str) -> list[str]:
    tcp, token = server
    return [sys.executable, "-m", "mobkat", "mob", *args, "--tcp", tcp.address, "--auth-token-file", str(token)]


def mob(server: tuple[TcpServer, Path], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(_cmd(server, *args), capture_output=True, text=True, timeout=60, env=server_env())
    assert (done.returncode == 0) == ok, (done.returncode, done.stdout, done.stderr)
    return done


def test_create_spawn_status_send_events_and_lifecycle(server: tuple[TcpServer, Path], tmp_path: Path) -> None:
    definition = tmp_path / "crew.toml"
    definition.write_text(CREW)
    assert json.loads(mob(server, "create", str(definition), "--json").stdout) == {"mob_id": "crew"}
    assert mob(server, "list").stdout == "crew\tRunning\n"
    mob(server, "spawn", "crew", "lead")
    mob(server, "spawn", "crew", "worker", "w1", "--label", "team=x")
    status = mob(server, "status", "crew").stdout.splitlines()
    assert status[0] == "mob crew: Running, 2 member(s)"
    assert status[2].split()[:4] == ["w1", "worker", "active", "turn_driven"] and status[2].endswith("wired: lead")

    mob(server, "send", "crew", "lead", "spawn a worker named w2")  # the lead's mob tools spawn it
    follow = subprocess.Popen(_cmd(server, "events", "crew", "--follow", "--after", "0"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=server_env())
    try:
        assert follow.stdout is not None
        for line in follow.stdout:  # the stream shows the tool's spawn (read or streamed, once each)
            if line.split()[1:2] == ["member_spawned"] and '"member": "w2"' in line:
                assert '"spawned_by": "lead"' in line
                break
        member = json.loads(mob(server, "status", "crew", "w2").stdout)
        assert member["status"] == "active" and member["peer_connectivity"]["snapshot"]["reachable_peer_count"] == 1
        assert json.loads(mob(server, "stop", "crew", "--json").stdout) == {"mob_id": "crew", "action": "stop",
                                                                             "ok": True}
        out, _ = follow.communicate(timeout=30)  # the follow ends with the mob's run
        assert follow.returncode == 0 and "mob_stopped" in out.splitlines()[-1]
    finally:
        follow.kill()
    refused = mob(server, "spawn", "crew", "worker", "w3", ok=False)
    assert "invalid state transition" in refused.stderr and "Stopped" in refused.stderr
    mob(server, "resume", "crew")
    events = mob(server, "events", "crew").stdout.splitlines()
    assert events[0].split()[:2] == ["1", "mob_started"] and "mob_resumed" in events[-1]
    mob(server, "destroy", "crew")
    gone = mob(server, "status", "crew", ok=False)
    assert "mob not found: crew" in gone.stderr and gone.returncode == 1


def test_flows_and_run_flow(server: tuple[TcpServer, Path], tmp_path: Path) -> None:
    definition = tmp_path / "crew.toml"
    definition.write_text(CREW.replace('id = "crew"', 'id = "writers"'))
    mob(server, "create", str(definition))
    mob(server, "spawn", "writers", "worker", "w1")
    assert mob(server, "flows", "writers").stdout == "review\n"
    result = json.loads(mob(server, "run-flow", "writers", "review", "--param", "topic=tides", "--wait", "30").stdout)
    assert result["run"]["status"] == "completed"
    assert result["run"]["outputs"]["write"] == {"w1": "You said: Write one line about tides."}
    mob(server, "destroy", "writers")


def test_connection_problems_are_clear(server: tuple[TcpServer, Path], tmp_path: Path) -> None:
    env = {k: v for k, v in server_env().items() if k != "MOBKAT_RPC_TCP"}
    nowhere = subprocess.run([sys.executable, "-m", "mobkat", "mob", "list"], capture_output=True, text=True,
                             timeout=60, env=env)
    assert nowhere.returncode == 1 and "--tcp HOST:PORT" in nowhere.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    tcp, _ = server
    denied = subprocess.run([sys.executable, "-m", "mobkat", "mob", "list", "--tcp", tcp.address,
                             "--auth-token-file", str(wrong)], capture_output=True, text=True, timeout=60, env=env)
    assert denied.returncode == 1 and "auth" in denied.stderr.lower()
