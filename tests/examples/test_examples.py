"""The examples under examples/ run offline as scripts, exit 0 and say what the docs say they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mobkat.audio import decode_speech, read_wav
from mobkat.history import BlockAssistantRow, UserRow, row_from_wire

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT_S = 60


def run_example(name: str, *args: str) -> list[str]:
    """Run ``examples/<name>`` with this interpreter; returns its stdout lines (fails on a non-zero exit)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}  # must not need a key
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, env=env, cwd=EXAMPLES.parent, check=False)
    assert done.returncode == 0, f"{name} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("simulator: stands in for OpenAI at http://127.0.0.1:")
    return lines


def json_rows(lines: list[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in lines if line.strip().startswith('{"created_at"')]


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_session_basics() -> None:
    lines = run_example("session_basics.py")
    assert "< Okay, I will remember: amber lantern." in lines
    assert '< Tool get_weather returned: {"city": "Oslo", "temperature": 4, "unit": "C"}   ' \
           "(model calls: 2, tool calls: 1)" in lines
    assert "< Tool get_weather returned: tool 'get_weather' failed: LookupError: no weather station in Atlantis" \
        in lines
    assert "< You asked me to remember: amber lantern." in lines
    rows = [row_from_wire(raw) for raw in json_rows(lines)]  # printed rows are valid wire rows
    assert [r.role for r in rows] == ["user", "block_assistant"] * 2 + [
        "user", "block_assistant", "tool_results", "block_assistant"] * 2 + ["user", "block_assistant"]


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_live_call(tmp_path: Path) -> None:
    lines = run_example("live_call.py", "--out", str(tmp_path))
    text = "\n".join(lines)
    assert '"text": "remember the codeword amber lantern"' in text  # user_transcript_final
    assert "assistant_audio_chunk" in text and "turn_completed" in text
    assert "live_close: {'status': 'closed'}; observations:" in lines
    wav = read_wav(tmp_path / "assistant.wav")
    assert decode_speech(wav) == "Okay, I will remember: amber lantern."
    rows = [row_from_wire(raw) for raw in json_rows(lines)]
    spoken_user, spoken_reply = rows[-2:]
    assert isinstance(spoken_user, UserRow) and spoken_user.text == "remember the codeword amber lantern"
    assert isinstance(spoken_reply, BlockAssistantRow) and spoken_reply.blocks[0].block_type == "transcript"
    assert lines[-1].endswith("< You asked me to remember: amber lantern.")


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_live_barge_in() -> None:
    lines = run_example("live_barge_in.py")
    assert [line.strip() for line in lines if "history keeps only what was heard" in line] == [
        "history keeps only what was heard: True (stop_reason=cancelled)"] * 2
    heard = [line for line in lines if "live_truncate says the listener heard" in line]
    assert heard and heard[0].endswith("'You said: please'")
    assert "  user said: 'wait'" in lines
    history = lines[lines.index("committed history after the channel closed:") + 1:]
    assert [line.split()[0] for line in history] == ["user", "block_assistant"] * 4
    assert history[-1].endswith("'You said: wait' [end_turn]")


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_live_asyncio_app() -> None:
    lines = run_example("live_asyncio_app.py")
    assert "live channel ready; streaming 20 ms frames from the app's loop" in lines
    assert "heard: 'You said: what is the capital of norway'" in lines
    assert "heard: 'You said: and of sweden?'" in lines
    assert lines[-1] == "history: 6 rows; last: 'You said: and of sweden?'"
