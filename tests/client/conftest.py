"""Fixtures for the upstream Meerkat SDK tests: it launches whatever ``MEERKAT_BIN_PATH`` names."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = shutil.which("mobkat-rpc", path=str(Path(sys.executable).parent))


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's server is our ``mobkat-rpc`` console script, on the simulator, with no real key."""
    assert SCRIPT, "the mobkat-rpc console script is not installed next to this python"
    monkeypatch.setenv("MEERKAT_BIN_PATH", SCRIPT)
    monkeypatch.setenv("MOBKAT_SIMULATOR", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def paced_server(sdk_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``MEERKAT_BIN_PATH``: mobkat-rpc with the simulator's text paced in real time (turns take seconds)."""
    wrapper = tmp_path / "mobkat-rpc-paced"
    wrapper.write_text(f'#!/bin/sh\nexec "{os.environ["MEERKAT_BIN_PATH"]}" "$@" --simulator-pace 1\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("MEERKAT_BIN_PATH", str(wrapper))
