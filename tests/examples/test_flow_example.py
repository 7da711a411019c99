"""``examples/mob_flow.py`` runs ``mobs/flow-demo.toml`` offline and prints what docs/flows.md shows."""

from __future__ import annotations

import pytest

from tests.examples.test_mob_examples import TIMEOUT_S, run_example


@pytest.mark.timeout(TIMEOUT_S + 10)
def test_mob_flow_example() -> None:
    lines = run_example("mob_flow.py")
    assert lines[1:4] == ["flows: ['main']", "run completed",
                          '  research: "You said: Find three facts about meerkats."']
    assert lines[5].startswith('  review: {"notes": "Review this paragraph: You said: Write a paragraph')
    assert lines[5].endswith('"verdict": "approve"}')
    events = [line.split(maxsplit=3)[2:] for line in lines if line.startswith("  event ")]
    assert events[0] == ["flow_started"] and events[-1] == ["flow_completed"]
    assert [e[1] for e in events if e[0] == "step_completed"] == ["research", "draft", "review"]
