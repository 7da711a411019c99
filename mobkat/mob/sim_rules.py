"""How the simulator's deterministic "model" behaves inside a mob, so that demos and tests relay.

Installed on a simulator that a mob starts itself (and available to tests that bring their own):
"ask the <peer>: <question>" (colon or comma required) makes the model call ``send_message``; a peer
message that asks a question makes the receiving model answer the sender with ``send_message``;
answers (no question mark at the end) are just spoken or written back, which ends the exchange.
Members with ``tools.mob`` also obey "spawn a <profile> named <name>", "retire member <name>" and
"wire members <a> and <b>" (the rules apply only where the tool is offered).
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

_IDENT = r"[A-Za-z_][\w-]*"
MOB_RULES: list[ToolRule] = [
    ToolRule(pattern=rf"\bspawn an? (?P<profile>{_IDENT}) named (?P<name>{_IDENT})", tool="mob_spawn",
             arguments={"profile": "{profile}", "name": "{name}"}),
    ToolRule(pattern=rf"\bretire member (?P<name>{_IDENT})", tool="mob_retire", arguments={"name": "{name}"}),
    ToolRule(pattern=rf"\bwire members (?P<a>{_IDENT}) and (?P<b>{_IDENT})", tool="mob_wire",
             arguments={"a": "{a}", "b": "{b}"}),
]
"""What makes the simulated model use its mob tools (``tools.mob``)."""
PEER_RULES += MOB_RULES
