"""``mobkat run --store-dsn`` keeps a mob's histories in PostgreSQL (schema ``mob_<id>``), and ``mobkat history``
reads them back from the DSN, as users run both: subprocesses, offline, against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.store.postgres_cluster import PostgresCluster

ROOT = Path(__file__).parents[2]


def mobkat(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MOBKAT_STORE_DSN")}
    return subprocess.run([sys.executable, "-m", "mobkat", *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def test_run_keeps_histories_in_postgres_and_history_reads_them(postgres: PostgresCluster, tmp_path: Path) -> None:
    dsn = postgres.dsn(postgres.new_database())
    ran = mobkat("run", "mobs/research-team.toml", "--store-dsn", dsn, "--state-root", str(tmp_path / "state"),
                 "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "MEMBER --schema mob_research_team)" in ran.stdout
    assert not (tmp_path / "state" / "research_team" / "sessions.db").exists()  # nothing in SQLite
    listed = mobkat("history", dsn, "--schema", "mob_research_team", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert sorted(line.split()[-1] for line in listed.stdout.splitlines()) == ["lead", "market", "tech-1", "tech-2"]
    lead = mobkat("history", dsn, "lead", "--schema", "mob_research_team", tmp_path=tmp_path)
    assert lead.returncode == 0 and "market says: Here is what I found" in lead.stdout
    wrong = mobkat("history", str(tmp_path / "none.db"), "--schema", "x", tmp_path=tmp_path)
    assert wrong.returncode != 0 and "--schema is for a PostgreSQL DSN" in wrong.stderr
