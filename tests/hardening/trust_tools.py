"""Python tools the definition-trust tests name in ``tools.python``. ``send_message`` leaves a marker file,
so a test can tell whether the server ran it (the simulated model calls ``send_message`` on "ask the X: ...")."""

from __future__ import annotations

import os
from os import getenv  # imported, not defined here: a 'tests.hardening.trust_tools:*' allow-list must not admit it
from pathlib import Path

MARKER_ENV = "MOBKAT_TRUST_MARKER"

__all__ = ["MARKER_ENV", "getenv", "send_message"]


def send_message(peer: str, body: str) -> str:
    """Leave a marker file (the proof that this code ran) and say so."""
    Path(os.environ[MARKER_ENV]).write_text(f"{peer}: {body}", encoding="utf-8")
    return f"marker written for {peer}"


def _private(peer: str, body: str) -> str:
    """Never allowed by a wildcard (a private name)."""
    return send_message(peer, body)
