"""Fixtures shared by the mob tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mobkat.simulator import Simulator, ToolRule
from tests.mob import mob_tools


@pytest.fixture
def gate(simulator: Simulator) -> Iterator[None]:
    """"slow job <label>" makes the simulated model call ``mob_tools.wait_gate``, which holds until the test opens
    ``mob_tools.GATE`` (opened at the end in any case)."""
    simulator.add_tool_rule(ToolRule(pattern=r"slow job (\w+)", tool="wait_gate", arguments={"label": "{1}"}))
    mob_tools.reset()
    yield
    mob_tools.GATE.set()
