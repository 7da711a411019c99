"""Fixtures for the simulator tests: a running simulator whose every server frame is validated strictly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sim_helpers import validate_server_frames

from mobkat.simulator import Simulator


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator on its own loop thread. At teardown EVERY realtime frame it sent must validate
    against ``openai.types.realtime.RealtimeServerEvent`` (unknown or malformed events fail the test)."""
    simulator = Simulator().start()
    try:
        yield simulator
    finally:
        simulator.stop()
    validate_server_frames(simulator.stats.all_server_frames())
