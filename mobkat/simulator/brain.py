"""The simulator's deterministic "model": the same rules answer chat completions and realtime.

Rules, in order (see docs/simulator.md):

1. the conversation ends with tool results → ``Tool <name> returned: <output>`` (one per result); a voice
   (realtime) acknowledges delivered ``send_message`` receipts in words instead of reading them out;
2. the first tool rule whose tool is offered and whose pattern is found in the last user text →
   a call of that tool (never twice for one user message; ``once`` rules once per conversation);
   else an offered tool the last user text names ("use the lookup_order tool ...", "call lookup_order")
   → a call of it, with the text's ``key=value`` pairs as arguments (once per user message);
3. a question (``?`` or the word "recall") mentioning remember / codeword / recall → the latest
   earlier "remember ..." → ``You asked me to remember: X.`` (or ``I have nothing to recall.``);
4. "remember [the codeword] X" → ``Okay, I will remember: X.``;
4b. a request for JSON matching a schema (``simulator/structured.py``) → a fenced JSON instance of it;
5. otherwise ``You said: <last user text>`` (``Hello.`` when there is no user text yet).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from mobkat.simulator.script import ToolRule
from mobkat.simulator.structured import structured_reply

Role = Literal["system", "user", "assistant", "tool_call", "tool_result"]

_REMEMBER = re.compile(r"\bremember(?:\s+the\s+codeword)?\b[\s:,-]*(?P<what>\S.*)", re.IGNORECASE | re.DOTALL)
_MENTIONS_MEMORY = re.compile(r"\b(?:remember|codeword|recall)\b", re.IGNORECASE)
_RECALL_WORD = re.compile(r"\brecall\b", re.IGNORECASE)


class BrainMessage(NamedTuple):
    """One conversation entry as the brain sees it: a role, its text and, for tools, the tool name.

    A plain tuple, not a model: a request of N messages builds N of them, and their fields come from
    input the chat and realtime front ends have already checked.
    """

    role: Role
    text: str = ""
    tool: str | None = None


class TextReply(BaseModel):
    """Say ``text``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["text"] = "text"
    text: str


class ToolCallReply(BaseModel):
    """Call ``tool`` with ``arguments``."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["tool_call"] = "tool_call"
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)


Reply = TextReply | ToolCallReply


def _is_recall_question(text: str) -> bool:
    return bool(_MENTIONS_MEMORY.search(text)) and ("?" in text or bool(_RECALL_WORD.search(text)))


def remembered(text: str) -> str | None:
    """What a "remember ..." statement asks to keep, or None if ``text`` is not one."""
    if _is_recall_question(text):
        return None
    found = _REMEMBER.search(text)
    if found is None:
        return None
    what = found.group("what").strip().rstrip(".!?").strip()
    return what or None


def _trailing_tool_results(messages: Sequence[BrainMessage]) -> list[BrainMessage]:
    results: list[BrainMessage] = []
    for message in reversed(messages):
        if message.role != "tool_result":
            break
        results.append(message)
    return list(reversed(results))


def _rule_call(
    messages: Sequence[BrainMessage], last_user: int, offered: Sequence[str], rules: Sequence[ToolRule]
) -> ToolCallReply | None:
    if not rules or not offered:
        return None
    user_text = messages[last_user].text
    called_now = {m.tool for m in messages[last_user + 1 :] if m.role == "tool_call"}
    called_ever = {m.tool for m in messages if m.role == "tool_call"}
    for rule in rules:
        if rule.tool not in offered or rule.tool in called_now or (rule.once and rule.tool in called_ever):
            continue
        arguments = rule.match(user_text)
        if arguments is not None:
            return ToolCallReply(tool=rule.tool, arguments=arguments)
    return None


_NAMES_TOOL = r"\b(?:use|call|run|invoke)\s+(?:the\s+)?[`'\"]?{name}[`'\"]?(?![\w-])"
_ARGUMENT = re.compile(r"(?P<key>[A-Za-z_]\w*)=(?:\"(?P<quoted>[^\"]*)\"|(?P<bare>[^\s,;]+))")


def _named_call(messages: Sequence[BrainMessage], last_user: int, offered: Sequence[str]) -> ToolCallReply | None:
    """A call of an offered tool the last user text names, with its ``key=value`` pairs as arguments."""
    user_text = messages[last_user].text
    if any(m.role == "tool_call" for m in messages[last_user + 1 :]):
        return None
    for name in offered:
        if re.search(_NAMES_TOOL.format(name=re.escape(name)), user_text, re.IGNORECASE):
            arguments = {m["key"]: m["quoted"] if m["quoted"] is not None else m["bare"].rstrip(".")
                         for m in _ARGUMENT.finditer(user_text)}
            return ToolCallReply(tool=name, arguments=arguments)
    return None


_PEER_MESSAGE = re.compile(r"^Peer message from (?P<peer>[\w-]+):\s*(?P<body>.+)$", re.DOTALL)


_DELIVERY_RECEIPT = re.compile(r"^delivered to (?P<peer>[\w-]+) \(message \w+\)$")


def _spoken_receipts(results: Sequence[BrainMessage]) -> str | None:
    """What a voice says after its ``send_message`` calls were delivered (None if any result is another)."""
    peers = [m.group("peer") for r in results
             if r.tool == "send_message" and (m := _DELIVERY_RECEIPT.match(r.text.strip()))]
    if len(peers) != len(results):
        return None
    return f"I've passed that on to {' and '.join(dict.fromkeys(peers))}; I'll tell you what they say."


def think(messages: Sequence[BrainMessage], offered_tools: Sequence[str] = (), rules: Sequence[ToolRule] = (),
          *, voice: bool = False) -> Reply:
    """The deterministic reply to a conversation, given the offered tool names and tool rules.
    ``voice`` (realtime): delivered ``send_message`` receipts are acknowledged in words, not read out."""
    results = _trailing_tool_results(messages)
    if results and voice and (spoken := _spoken_receipts(results)) is not None:
        return TextReply(text=spoken)
    if results:
        return TextReply(text=" ".join(f"Tool {r.tool or 'unknown'} returned: {r.text}" for r in results))
    last_user = next((i for i in range(len(messages) - 1, -1, -1) if messages[i].role == "user"), None)
    if last_user is None:
        return TextReply(text="Hello.")
    call = _rule_call(messages, last_user, offered_tools, rules) or _named_call(messages, last_user, offered_tools)
    if call is not None:
        return call
    text = messages[last_user].text.strip()
    if _is_recall_question(text):
        for earlier in reversed(messages[:last_user]):
            if earlier.role == "user" and (what := remembered(earlier.text)) is not None:
                return TextReply(text=f"You asked me to remember: {what}.")
        return TextReply(text="I have nothing to recall.")
    what = remembered(text)
    if what is not None:
        return TextReply(text=f"Okay, I will remember: {what}.")
    structured = structured_reply(text)
    if structured is not None:  # a request for JSON matching a schema (a flow step's output_schema)
        return TextReply(text=structured)
    peer = _PEER_MESSAGE.match(text)
    if peer is not None:
        return TextReply(text=f"{peer['peer']} says: {peer['body'].strip()}")
    return TextReply(text=f"You said: {text}")
