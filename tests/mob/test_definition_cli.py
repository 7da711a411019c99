"""``mobkat validate FILE``: exit codes, the summary line, every problem on stderr, ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mobkat.cli.main import COMMAND_MODULES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return tmp_path / "work"


def validate(work: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(work.parent / "home"), "MOBKAT_CONFIG_HOME": str(work.parent / "home")}
    return subprocess.run(
        [sys.executable, "-m", "mobkat", "validate", *argv],
        cwd=work, env=env, capture_output=True, text=True, timeout=60,
    )


def test_validate_is_a_registered_command() -> None:
    assert "validate" in COMMAND_MODULES


def test_a_good_file_prints_a_summary_and_exits_0(work: Path) -> None:
    (work / "live.toml").write_text(
        'id = "live-demo"\n\n[profiles.host]\nmodel = "gpt-realtime-2"\nprovider = "openai"\n'
        'peer_description = "Live audio host"\n'
    )
    result = validate(work, "live.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "live.toml: ok — mob 'live-demo', 1 profile, 1 member, no orchestrator, live channel on 'host'\n"
    )
    assert result.stderr == ""


def test_the_research_team_example(work: Path) -> None:
    path = REPO / "mobs" / "research-team.toml"
    result = validate(work, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{path}: ok — mob 'research_team', 3 profiles, 4 members, orchestrator 'lead'\n"


def test_a_broken_file_prints_every_problem_and_exits_1(work: Path) -> None:
    (work / "bad.toml").write_text(
        'id = "m"\n[profiles.host]\nmodel = "gpt-5.5"\npeer_descripton = "x"\n'
        '[[members]]\nname = "a"\nprofile = "hots"\n'
    )
    result = validate(work, "bad.toml")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "mobkat validate: error: bad.toml:4: profiles.host.peer_descripton: unknown key 'peer_descripton' "
        "(did you mean 'peer_description'?)",
    ]
    (work / "bad.toml").write_text('id = "m"\n[profiles.host]\nmodel = "gpt-5.5"\n[[members]]\nname = "a"\n'
                                   'profile = "hots"\n[demo]\nmember = "b"\n')
    result = validate(work, "bad.toml")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "mobkat validate: error: bad.toml:6: members[0].profile: unknown profile 'hots' (did you mean 'host'?)",
        "mobkat validate: error: bad.toml:8: demo.member: unknown member 'b' (defined: 'a')",
    ]


def test_a_missing_file_exits_1(work: Path) -> None:
    result = validate(work, "nope.toml")
    assert result.returncode == 1
    assert result.stderr.startswith("mobkat validate: error: nope.toml: cannot read the file")


def test_json_output(work: Path) -> None:
    path = REPO / "mobs" / "pipeline.toml"
    result = validate(work, str(path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["id"] == "pipeline" and data["orchestrator"] is None
    assert [m["name"] for m in data["members"]] == ["extractor", "summarizer", "reviewer"]
    assert data["live_members"] == []
    assert data["definition"]["profiles"]["reviewer"]["runtime_mode"] == "turn_driven"
