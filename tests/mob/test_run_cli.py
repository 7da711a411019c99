"""``mobkat run`` end to end, as a user runs it: a subprocess, offline, stdin closed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from mobkat.audio import encode_speech, silence, write_wav
from mobkat.history import BlockAssistantRow, SystemNoticeRow, UserRow
from mobkat.store import SqliteSessionStore

ROOT = Path(__file__).parents[2]


def run(args: list[str], tmp_path: Path, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run([sys.executable, "-m", "mobkat", "run", *args, "--state-root", str(tmp_path / "state"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, env=env, stdin=stdin,
                          capture_output=True, text=True, timeout=60)


def test_live_demo_runs_offline_to_completion(tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run(["mobs/live-demo.toml"], tmp_path)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert elapsed < 30
    out = proc.stdout
    assert "OFFLINE: the built-in simulator stands in for OpenAI" in out
    assert "[host] live voice channel open" in out
    assert "[host] heard: Ask the researcher: what do meerkats eat?" in out
    assert "[host -> researcher] message sent" in out
    assert "[researcher -> host] message sent" in out
    assert "[host] said: researcher says: Here is what I found about 'what do meerkats eat?'" in out
    db = tmp_path / "state" / "live-demo" / "sessions.db"
    assert f"histories: {db}  (read one: mobkat history {db} MEMBER)" in out
    shown = subprocess.run([sys.executable, "-m", "mobkat", "history", str(db), "researcher"], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0 and "Peer message from host:" in shown.stdout
    assert sorted(p.name for p in (tmp_path / "out").glob("*.wav"))  # assistant audio was saved
    store = SqliteSessionStore(tmp_path / "state" / "live-demo" / "sessions.db")
    try:
        by_member = {s.labels["member"]: store.history(s.session_id) for s in store.list_sessions()}
    finally:
        store.close()
    host, researcher = by_member["host"], by_member["researcher"]
    assert any(isinstance(r, UserRow) and r.text == "Ask the researcher: what do meerkats eat?" for r in host)
    assert any(isinstance(r, SystemNoticeRow) and r.body and r.body.startswith("Peer message from researcher")
               for r in host)
    assert isinstance(host[-1], BlockAssistantRow) and host[-1].text.startswith("researcher says:")
    assert any(isinstance(r, SystemNoticeRow) and r.body == "Peer message from host:\nwhat do meerkats eat?"
               for r in researcher)


def test_script_and_wav_input(tmp_path: Path) -> None:
    wav = tmp_path / "codeword.wav"
    write_wav(wav, encode_speech("remember the codeword amber lantern") + silence(500))
    script = tmp_path / "script.txt"
    script.write_text("# typed lines go to the host's live conversation\nwhat codeword did I ask you to remember?\n"
                      "researcher: hello researcher\n/quit\nnever read\n")
    proc = run(["mobs/live-demo.toml", "--audio", str(wav), "--script", str(script)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "[host] heard: remember the codeword amber lantern" in proc.stdout
    assert "[host] said: You asked me to remember: amber lantern." in proc.stdout
    assert "[operator -> researcher] message sent" in proc.stdout
    assert "You said: hello researcher" in proc.stdout
    assert "never read" not in proc.stdout


def test_bad_definition_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "x"\n[profiles.a]\nmodle = "gpt-5.5"\n')
    proc = run([str(bad)], tmp_path)
    assert proc.returncode == 1
    assert f"{bad}:3: profiles.a.modle: unknown key 'modle' (did you mean 'model'?)" in proc.stderr
    assert "Traceback" not in proc.stderr
