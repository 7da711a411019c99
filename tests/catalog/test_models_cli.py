"""``mobkat models``: the table, ``--json``, ``--provider``, config errors, and a fresh install."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mobkat.catalog import Catalog, ModelsCatalogResponse
from mobkat.cli import models
from mobkat.errors import ConfigError


@pytest.fixture()
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an empty home: no config anywhere."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOBKAT_CONFIG_HOME", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run_models(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="mobkat")
    models.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", *argv])
    code: int = args.func(args)
    return code


def table_rows(out: str) -> dict[str, list[str]]:
    """Table lines keyed by model id (the ``*`` default marker stripped)."""
    lines = out.splitlines()
    body = lines[1 : lines.index("")]
    return {line.split()[0]: line.split() for line in body}


def test_table_lists_the_catalog_with_realtime_column(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_models() == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == [
        "MODEL", "PROVIDER", "NAME", "TIER", "CONTEXT", "OUTPUT", "REALTIME", "TURN", "MODES"
    ]
    rows = table_rows(out)
    assert set(rows) == {row.id for row in Catalog.default().rows()}
    realtime = [model_id for model_id, cells in rows.items() if "yes" in cells]
    assert realtime == ["gpt-realtime-2"]
    assert "provider_managed, explicit_commit" in out
    assert rows["gpt-5.5"][1] == "*"  # provider default marker
    assert "default model: gpt-5.5 (built-in)" in out


def test_table_includes_custom_models_and_config_default(
    fresh: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (fresh / ".mobkat").mkdir()
    (fresh / ".mobkat" / "config.toml").write_text(
        'default_model = "llama"\n[models.llama]\nprovider = "self_hosted"\ncontext_window = 8192\n'
    )
    assert run_models("--provider", "self_hosted") == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert list(rows) == ["llama"]
    assert rows["llama"][:7] == ["llama", "*", "self_hosted", "llama", "supported", "(custom)", "8,192"]
    assert "default model: llama (set in .mobkat/config.toml:1)" in out


def test_json_is_the_models_catalog_result(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_models("--json") == 0
    wire = json.loads(capsys.readouterr().out)
    ModelsCatalogResponse.model_validate(wire)
    assert wire == Catalog.default().to_wire()


def test_config_errors_propagate_as_config_error(fresh: Path) -> None:
    (fresh / ".mobkat").mkdir()
    (fresh / ".mobkat" / "config.toml").write_text("\n[providers.openai]\nbase_ulr = 'http://x'\n")
    with pytest.raises(ConfigError) as caught:
        run_models()
    assert str(caught.value).startswith(".mobkat/config.toml:3: providers.openai.base_ulr: unknown key")


# ---- the installed command, end to end


def mobkat(*argv: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MOBKAT_CONFIG_HOME", "OPENAI_API_KEY")}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "mobkat", *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_mobkat_models_works_from_a_fresh_install(tmp_path: Path) -> None:
    result = mobkat("models", cwd=tmp_path, home=tmp_path / "no-home")
    assert result.returncode == 0, result.stderr
    assert "gpt-realtime-2" in result.stdout and "claude-opus-4-7" in result.stdout
    as_json = mobkat("models", "--json", "--provider", "openai", cwd=tmp_path, home=tmp_path / "no-home")
    assert as_json.returncode == 0, as_json.stderr
    wire = json.loads(as_json.stdout)
    assert [group["provider"] for group in wire["providers"]] == ["openai"]


def test_mobkat_models_reports_config_errors_with_exit_1(tmp_path: Path) -> None:
    (tmp_path / ".mobkat").mkdir()
    (tmp_path / ".mobkat" / "config.toml").write_text('[models.x]\nprovider = "azure"\n')
    result = mobkat("models", cwd=tmp_path, home=tmp_path / "no-home")
    assert result.returncode == 1
    assert result.stderr.startswith("mobkat models: error: .mobkat/config.toml:2: models.x.provider: ")
