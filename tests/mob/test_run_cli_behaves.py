"""``mobkat run`` as a new user meets it (issue #12): terminal demo, input errors, any WAV, provider failures."""

from __future__ import annotations

import base64
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soxr

from mobkat.audio import encode_speech, load_wav, read_wav, silence, transcribe
from mobkat.cli.run_view import AudioRecorder
from mobkat.live.wire import AssistantAudioChunk, TurnCompleted
from mobkat.mob.mob import Mob

ROOT = Path(__file__).parents[2]


def offline_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MOBKAT_SIMULATOR")}
    return {**env, **extra}


def run(args: list[str], tmp_path: Path, env: dict[str, str] | None = None,
        stdin_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mobkat", "run", *args, "--state-root", str(tmp_path / "state"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, env=env or offline_env(),
                          input=stdin_text, stdin=subprocess.DEVNULL if stdin_text is None else None,
                          capture_output=True, text=True, timeout=60)


def closed_port() -> int:
    """A loopback port nothing listens on, below the ephemeral range: a freed ephemeral port can be taken
    by any process meanwhile, or even become the client's own source port (a TCP self-connect)."""
    for port in range(1, 1024):
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise AssertionError("every loopback port below 1024 is listening")


def write_pcm(path: Path, text: str, rate: int, channels: int) -> None:
    mono = np.frombuffer(encode_speech(text) + silence(300), dtype="<i2").astype(np.float32) / 32768.0
    converted = soxr.resample(mono, 24000, rate) if rate != 24000 else mono
    frames = np.repeat(converted[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())


def test_terminal_runs_the_demo_then_prompts(tmp_path: Path) -> None:
    """In a real terminal (a pty) the demo runs first, then a prompt takes a typed line."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mobkat", "run", "mobs/live-demo.toml", "--state-root",
                             str(tmp_path / "state"), "--out", str(tmp_path / "out")], cwd=ROOT, env=offline_env(),
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen = ""

    def read_until(marker: str, timeout: float = 40.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            assert time.monotonic() < deadline, f"no {marker!r} in:\n{seen}"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096).decode(errors="replace")
                except OSError:
                    break
        assert marker in seen, seen

    try:
        read_until("[host] said: researcher says: Here is what I found about 'what do meerkats eat?'")
        read_until("you> ")
        os.write(master, b"researcher: hello from the terminal\n")
        read_until("You said: hello from the terminal")
        os.write(master, b"/quit\n")
        read_until("histories:")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_unknown_command_and_member_are_errors(tmp_path: Path) -> None:
    proc = run(["mobs/live-demo.toml"], tmp_path,
               stdin_text="/sya hello\nresercher: hello\n/quit\n")
    assert proc.returncode == 0, proc.stderr
    assert ("[mob] cannot do '/sya hello': unknown command /sya (commands: /say TEXT, /audio FILE.wav [MEMBER], "
            "/wait [SECONDS], /quit)") in proc.stdout
    assert "[mob] cannot do 'resercher: hello': unknown member 'resercher' (members: host, researcher)" in proc.stdout
    assert "[host] heard: /sya hello" not in proc.stdout and "[host] heard: resercher" not in proc.stdout


@pytest.mark.parametrize(("rate", "channels"), [(22050, 2), (16000, 1), (48000, 2)])
def test_any_wav_rate_and_channels_is_heard(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / "q.wav"
    write_pcm(path, "remember the codeword amber lantern", rate, channels)
    assert transcribe(load_wav(path)) == "remember the codeword amber lantern"


def test_wav_input_any_rate_via_audio_and_bad_file_is_one_line(tmp_path: Path) -> None:
    wav = tmp_path / "q.wav"
    write_pcm(wav, "remember the codeword amber lantern", 22050, 2)
    proc = run(["mobs/live-demo.toml", "--audio", str(wav)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[host] heard: remember the codeword amber lantern" in proc.stdout
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    proc = run(["mobs/live-demo.toml", "--audio", str(bad)], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"mobkat run: error: {bad}: not a readable PCM WAV file (not a WAVE file)"
    proc = run(["mobs/live-demo.toml"], tmp_path, stdin_text=f"/audio {bad}\n")
    assert f"[mob] cannot do '/audio {bad}': {bad}: not a readable PCM WAV file" in proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout


def test_unreachable_endpoint_fails_fast_with_one_line_and_summary(tmp_path: Path) -> None:
    port = closed_port()
    started = time.monotonic()
    proc = run(["mobs/live-demo.toml"], tmp_path,
               env=offline_env(OPENAI_API_KEY="sk-dummy", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1"))
    assert time.monotonic() - started < 20
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"[mob] host: model gpt-realtime-2 (openai) at http://127.0.0.1:{port}/v1 (key from OPENAI_API_KEY)" \
        in proc.stdout
    assert (f"mobkat run: error: host: model gpt-realtime-2 at http://127.0.0.1:{port}/v1 (openai): connection "
            f"refused (nothing listens on 127.0.0.1:{port})") in proc.stderr
    assert "histories: " in proc.stdout and "turns failed: host" in proc.stdout


def test_every_turn_failing_exits_non_zero(tmp_path: Path) -> None:
    port = closed_port()
    proc = run(["mobs/research-team.toml"], tmp_path,
               env=offline_env(OPENAI_API_KEY="sk-dummy", OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1"))
    assert proc.returncode == 3
    assert "[mob] market: model claude-sonnet-4-6 (anthropic) at https://api.anthropic.com/v1 (NO KEY: set " \
           "ANTHROPIC_API_KEY)" in proc.stdout
    assert "mobkat run: error: " in proc.stderr and "Traceback" not in proc.stderr


class Refuse401(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.dumps({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                     "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse401)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_refused_key_names_the_endpoint(tmp_path: Path, refusing_endpoint: str) -> None:
    team = tmp_path / "solo.toml"
    team.write_text('[mob]\nid = "solo"\n[profiles.lead]\nmodel = "gpt-5.5"\n[demo]\nmember = "lead"\n'
                    'say = ["hello"]\n')
    proc = run([str(team)], tmp_path, env=offline_env(OPENAI_API_KEY="sk-wrong", OPENAI_BASE_URL=refusing_endpoint))
    assert proc.returncode == 3
    assert (f"mobkat run: error: lead: model gpt-5.5 at {refusing_endpoint} (openai): the endpoint refused the API "
            "key (401 unauthorized)") in proc.stderr


def test_startup_names_the_simulator_and_voice_does_not_read_receipts(tmp_path: Path) -> None:
    proc = run(["mobs/live-demo.toml"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[mob] host: model gpt-realtime-2 via the simulator at http://127.0.0.1:" in proc.stdout
    assert "[mob] researcher: model gpt-5.5 via the simulator at http://127.0.0.1:" in proc.stdout
    assert "[host] said: I've passed that on to researcher; I'll tell you what they say." in proc.stdout
    assert "[host] said: Tool send_message returned" not in proc.stdout
    assert "turn committed" not in proc.stdout and " rows)" not in proc.stdout.split("histories:")[0]
    assert "[host -> researcher] message sent" in proc.stdout and "[host] live voice channel open" in proc.stdout
    spoken = [transcribe(read_wav(p)) for p in sorted((tmp_path / "out").glob("host-*.wav"))]
    assert spoken[0] == "I've passed that on to researcher; I'll tell you what they say."
    assert spoken[1].startswith("researcher says: Here is what I found")


def test_history_has_a_header_per_session_and_shows_tool_rows(tmp_path: Path) -> None:
    for _ in range(2):  # the same state root twice: two sessions per member
        assert run(["mobs/live-demo.toml"], tmp_path).returncode == 0
    db = tmp_path / "state" / "live-demo" / "sessions.db"
    shown = subprocess.run([sys.executable, "-m", "mobkat", "history", str(db), "researcher"], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    headers = [line for line in shown.stdout.splitlines() if line.startswith("== member researcher of mob live-demo")]
    assert len(headers) == 2 and all("model gpt-5.5, 5 rows" in h for h in headers)
    assert ' tool call   send_message({"peer": "host", "body": "Here is what I found about' in shown.stdout
    assert " tool result delivered to host (message " in shown.stdout


def test_rpc_port_in_use_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "mobkat", "rpc", "--tcp", f"127.0.0.1:{port}"], cwd=ROOT,
                              env=offline_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (f"mobkat rpc: error: cannot listen: --tcp 127.0.0.1:{port} is already in use "
                                   "(another server is running there?); pick another port, or port 0 for a free one")


def test_from_toml_takes_a_str_state_root(tmp_path: Path) -> None:
    with Mob.from_toml(str(ROOT / "mobs" / "live-demo.toml"), simulator=True, state_root=str(tmp_path)) as mob:
        mob.spawn_members()
    assert (tmp_path / "live-demo" / "sessions.db").is_file()


def test_a_turn_committing_while_the_next_response_speaks_does_not_split_its_audio(tmp_path: Path) -> None:
    def chunk(response_id: str, pcm: bytes) -> AssistantAudioChunk:
        return AssistantAudioChunk(data=base64.b64encode(pcm).decode(), response_id=response_id, item_id="i",
                                   content_index=0)

    recorder = AudioRecorder("host", tmp_path)
    recorder(chunk("r1", b"\x01\x00" * 10))
    recorder(chunk("r2", b"\x02\x00" * 10))  # the next response starts speaking ...
    recorder(TurnCompleted(stop_reason="completed", response_id="r1"))  # ... before turn 1's commit lands
    recorder(chunk("r2", b"\x03\x00" * 10))
    recorder(TurnCompleted(stop_reason="completed", response_id="r2"))
    assert [read_wav(path) for path in recorder.files] == [b"\x01\x00" * 10, b"\x02\x00" * 10 + b"\x03\x00" * 10]
