"""Fixtures for session tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from mobkat.session import ToolRegistry
from mobkat.simulator import Simulator, ToolRule


@dataclass
class GatedTool:
    """A ``wait_here`` tool the simulated model calls for "slow" prompts: it sets ``entered`` and blocks
    until ``release`` is set, so a test can act while a turn is inside a tool call."""

    tools: ToolRegistry
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def gated_tool(simulator: Simulator) -> GatedTool:
    simulator.add_tool_rule(ToolRule(pattern=r"slow", tool="wait_here"))
    gate = GatedTool(ToolRegistry())

    @gate.tools.register
    def wait_here() -> str:
        gate.entered.set()
        assert gate.release.wait(10)
        return "done"

    return gate
