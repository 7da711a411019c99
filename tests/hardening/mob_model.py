"""The model of the mob state machine: per session, the turns the system acknowledged as committed.

A turn is ``(input, reply)`` at the level the user sees: the operator's text (or a peer message's
notice body) and the text the member answered. History rows are projected to the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PEER_NOTICE = "Peer message from "


@dataclass
class Expected:
    """One turn: ``reply`` exact, or with ``cut`` any prefix of it (or nothing: an interrupt or drop).

    ``optional`` turns were never acknowledged (cut by a drop or ``kill -9``): they may be absent,
    but once seen committed they must stay.
    """

    input: str
    reply: str
    cut: bool = False
    optional: bool = False

    def matches(self, actual: tuple[str, str | None]) -> bool:
        text, reply = actual
        if text != self.input:
            return False
        if self.cut:
            return reply is None or self.reply.startswith(reply)
        return reply == self.reply


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def project(rows: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """History rows (``session/history`` JSON) → ``[(input, last reply text or None)]``.

    Tool calls and results are steps inside a turn; mob lifecycle notices (wiring) start no turn.
    """
    turns: list[tuple[str, str | None]] = []
    for row in rows:
        role = row["role"]
        if role == "user":
            turns.append((_text_of(row["content"]), None))
        elif role == "system_notice" and row["body"].startswith(PEER_NOTICE):
            turns.append((row["body"], None))
        elif role == "block_assistant":
            texts = [b["data"]["text"] for b in row["blocks"] if b["block_type"] in ("text", "transcript")]
            if texts:
                assert turns, f"a reply before any input: {row}"
                turns[-1] = (turns[-1][0], texts[-1])
    return turns


def check(expected: list[Expected], actual: list[tuple[str, str | None]]) -> list[Expected]:
    """Assert ``actual`` is ``expected`` in order, each turn once (optional ones may be missing).

    Returns the updated model: optional turns seen are now required; optional turns skipped
    before a later committed turn can never appear any more and are dropped.
    """
    updated: list[Expected] = []
    skipped: list[Expected] = []
    position = 0
    for want in expected:
        if position < len(actual) and want.matches(actual[position]):
            skipped = []  # optionals skipped before a committed turn can never appear any more
            updated.append(Expected(want.input, want.reply, want.cut, optional=False))
            position += 1
        elif want.optional:
            skipped.append(want)
        else:
            raise AssertionError(f"acknowledged turn {want} missing or out of order at row-turn {position}:\n"
                                 f"actual={actual}\nexpected={expected}")
    assert position == len(actual), f"unacknowledged or duplicated turns {actual[position:]}\nexpected={expected}"
    return updated + skipped  # trailing optionals may still be absent for good; keep them optional
