"""The mob examples run offline as scripts, exit 0 and print what docs/mobs.md shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60


def run_example(name: str, timeout: float = TIMEOUT_S) -> list[str]:
    """Run ``examples/<name>`` with this interpreter and no OpenAI settings; its stdout lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and k != "MOBKAT_SIMULATOR"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, f"{name} exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.splitlines()
    assert lines and lines[0].startswith("simulator: stands in for OpenAI at http://127.0.0.1:")
    return lines


def section(lines: list[str], title: str) -> list[str]:
    """The indented lines that follow the line starting with ``title``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith(" ")), len(lines))
    return lines[start:end]


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_mob_team() -> None:
    lines = run_example("mob_team.py")
    assert "mob research_team: spawned ['lead', 'market', 'tech-1', 'tech-2']" in lines
    roster = [" ".join(line.split()) for line in section(lines, "roster:")]
    assert roster == ["research_team/lead/lead generation 0 wired to market, tech-1, tech-2",
                      "research_team/market/market generation 0 wired to lead, tech-1, tech-2",
                      "research_team/tech/tech-1 generation 0 wired to lead, market",
                      "research_team/tech/tech-2 generation 0 wired to lead, market"]
    assert "lead's last turn: market says: Here is what I found about 'how many field technicians could use a " \
           "voice assistant?' (a simulated answer: the simulator has no real knowledge)" in lines

    events = section(lines, "events so far:")
    cursors = [int(line.split()[0]) for line in events]
    assert cursors == list(range(1, len(events) + 1))  # every event, no gaps
    routed = [" ".join(line.split()[1:5]) for line in events if "peer_message_routed" in line]
    assert routed == ["peer_message_routed sender=operator receiver=lead kind=message",
                      "peer_message_routed sender=lead receiver=market kind=message",
                      "peer_message_routed sender=market receiver=lead kind=message"]

    lead = [" ".join(line.split()) for line in section(lines, "history of lead")]
    assert "user ask the market: how many field technicians could use a voice assistant?" in lead
    assert any(line.startswith("block_assistant calls send_message(peer='market'") for line in lead)
    assert lead[-2].startswith("system_notice [message] Peer message from market: | Here is what I found")
    assert lead[-1].startswith("block_assistant market says: Here is what I found")
    market = [" ".join(line.split()) for line in section(lines, "history of market")]
    assert "system_notice [message] Peer message from lead: | how many field technicians could use a voic..." \
        in market

    assert any(line.startswith("  WiringError (wiring_error): wiring error: tech-1 and tech-2 are not wired")
               for line in lines)
    assert "  restarted: generation 1 (RuntimeError: member market crashed: chaos drill)" in lines
    assert "  info(): generation 1, same session: True, history intact: True (9 rows)" in lines
    assert "  retire -> True; again -> False" in lines
    assert "  members now: ['lead', 'market', 'tech-1']" in lines

    mark = next(int(m[1]) for line in lines if (m := re.match(r"events cursor is now (\d+)", line)))
    resumed = section(lines, f"events after cursor {mark}")
    assert [int(line.split()[0]) for line in resumed] == list(range(mark + 1, mark + 1 + len(resumed)))
    kinds = [line.split()[1] for line in resumed]
    assert kinds[0] == "peer_message_rejected" and "reason=not_wired" in resumed[0]
    assert kinds[1:] == ["member_restarted", "members_unwired", "members_unwired", "member_retired"]
    assert lines[-1] == "mob stopped"


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_mob_live_relay() -> None:
    lines = run_example("mob_live_relay.py")
    text = "\n".join(lines)
    assert "mob live-demo: spawned ['host', 'researcher']" in lines
    assert re.search(r"host's live channel is open: [0-9a-f-]{36} \(provider_managed, continuity transcript_only\)",
                     text)
    assert "speaking 'Ask the researcher: what do meerkats eat?' into the host's channel: 16 chunks of 100 ms" in lines
    followed = [line.split(maxsplit=1)[1] for line in lines[lines.index(next(
        line for line in lines if line.startswith("speaking "))) + 1:] if line.startswith("  ") and
        line.split()[0].isdigit()]
    answer = ("researcher says: Here is what I found about 'what do meerkats eat?' (a simulated answer: the "
              "simulator has no real knowledge)")
    order = ["host heard:  'Ask the researcher: what do meerkats eat?'",
             "routed message: host -> researcher",
             "routed message: researcher -> host",
             f"host said:   \"{answer}\"",
             "host committed a turn (live, 2 rows)"]
    assert all(step in followed for step in order), "\n".join(lines)
    positions = [followed.index(step) for step in order]
    assert positions == sorted(positions), followed
    assert followed[-1] == "host committed a turn (live, 2 rows)"

    spoken = section(lines, "what the host spoke")
    assert spoken[-1].endswith(f"-> \"{answer}\"")  # decoded from the host's audio

    host = section(lines, "history of host")
    assert host[3] == "    user            'Ask the researcher: what do meerkats eat?'"
    assert host[-2].startswith("    system_notice   [message] \"Peer message from researcher:\\nHere is what I found")
    assert host[-1] == f"    block_assistant [transcript] \"{answer}\""
    researcher = section(lines, "history of researcher")
    assert "    system_notice   [message] 'Peer message from host:\\nwhat do meerkats eat?'" in researcher
    assert researcher[-1].startswith("    block_assistant [text] 'Tool send_message returned: delivered to host")
    assert lines[-1] == "mob stopped (the host's live channel was closed first)"


@pytest.mark.timeout(300)
def test_mob_on_ray() -> None:
    """The research team on a two-node Ray cluster: spread, relaying across nodes, and a node lost."""
    pytest.importorskip("ray")
    lines = run_example("mob_on_ray.py", timeout=240)
    placement = section(lines, "placement:")
    assert len(placement) == 4 and {line.split()[-2] for line in placement} == {"head", "worker"}
    assert any(line.startswith("relay across the nodes: lead says \"market says: Here is what I found")
               for line in lines)
    moved = [line for line in lines if "restarted at generation 1 (node lost: Ray node" in line]
    assert moved and all("ActorDiedError" in line for line in moved)
    kept = [line.split() for line in lines if "now on the head node, history" in line]
    assert kept and all(words[-4] == words[-1] for words in kept)  # rows before == rows after
