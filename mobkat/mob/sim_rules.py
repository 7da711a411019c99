"""How the simulator's deterministic "model" behaves inside a mob, so that demos and tests relay.

Installed on a simulator that a mob starts itself (and available to tests that bring their own):
"ask the <peer>: <question>" (colon or comma required) makes the model call ``send_message``; a peer
message that asks a question makes the receiving model answer the sender with ``send_message``;
answers (no question mark at the end) are just spoken or written back, which ends the exchange.
"""

from __future__ import annotations

from mobkat.simulator import ToolRule

PEER_RULES: list[ToolRule] = [
    ToolRule(
        pattern=r"^Peer message from (?P<peer>[A-Za-z_][\w-]*):\s*(?P<body>.*\?)\s*$",
        tool="send_message",
        arguments={"peer": "{peer}",
                   "body": "Here is what I found about '{body}' (a simulated answer: the simulator has no "
                           "real knowledge)"},
    ),
    ToolRule(
        pattern=r"\bask the (?P<peer>[A-Za-z_][\w-]*)[:,]\s+(?P<body>.+)",
        tool="send_message",
        arguments={"peer": "{peer}", "body": "{body}"},
    ),
]
