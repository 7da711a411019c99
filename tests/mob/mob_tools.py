"""Python tools that test mobs load through ``tools.python`` import paths."""

from __future__ import annotations

import threading

GATE = threading.Event()
ENTERED = threading.Event()
CALLS: list[str] = []


def reset() -> None:
    GATE.clear()
    ENTERED.clear()
    CALLS.clear()


def wait_gate(label: str) -> str:
    """Block until the test opens the gate (simulates a slow tool)."""
    CALLS.append(label)
    ENTERED.set()
    GATE.wait(20)
    return f"gate passed for {label}"
