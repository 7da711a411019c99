"""``mobkat simulator`` as a real subprocess: banner on stdout, SDK call, clean stop on SIGTERM."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading

from openai import OpenAI


def test_cli_serves_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobkat", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True).start()
    try:
        banner = lines.get(timeout=20)
        found = re.fullmatch(r"mobkat simulator listening: base_url=(http://127\.0\.0\.1:\d+/v1)\n", banner)
        assert found, banner
        base_url = found.group(1)
        assert f"OPENAI_BASE_URL={base_url} OPENAI_API_KEY=sk-sim" in "".join(lines.get(timeout=5) for _ in range(2))
        reply = OpenAI(base_url=base_url, api_key="sk-sim", max_retries=0).chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": "from the CLI test"}]
        )
        assert reply.choices[0].message.content == "You said: from the CLI test"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    assert code == 0
    assert "mobkat simulator stopped" in (proc.stderr.read() if proc.stderr else "")
