"""A realtime connection's conversation: ordered items, as the simulator keeps them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from mobkat.audio import heard_prefix
from mobkat.simulator.brain import BrainMessage
from mobkat.simulator.speech import said_by

PartType = Literal["input_text", "input_audio", "output_text", "output_audio"]
ItemStatus = Literal["completed", "incomplete", "in_progress"]


@dataclass
class Part:
    """One content part. ``heard`` is what the model understood of input audio (decoded codec);
    ``ends_ms`` is when each transcript character of generated audio was spoken (empty: 20 ms per byte)."""

    type: PartType
    text: str | None = None
    transcript: str | None = None
    heard: str | None = None
    audio_ms: int = 0
    ends_ms: Sequence[int] = ()
    heard_by_ear: bool = False
    """``heard`` came from the real-speech ear (``mobkat[speech]``), not the tone codec."""

    def heard_at(self, ms: int) -> str:
        """The transcript spoken within the first ``ms`` of this part's audio."""
        text = self.transcript or ""
        return said_by(text, self.ends_ms, ms) if self.ends_ms else heard_prefix(text, ms)

    @property
    def meaning(self) -> str:
        """The part's text as the brain reads it."""
        if self.type in ("input_text", "output_text"):
            return self.text or ""
        if self.type == "input_audio":
            return self.heard if self.heard is not None else (self.transcript or "")
        return self.transcript or ""


@dataclass
class Item:
    """A conversation item: a message, a function call or a function call output."""

    id: str
    type: Literal["message", "function_call", "function_call_output"]
    role: Literal["user", "assistant", "system"] | None = None
    parts: list[Part] = field(default_factory=list)
    status: ItemStatus = "completed"
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    output: str = ""

    @property
    def text(self) -> str:
        return " ".join(part.meaning for part in self.parts if part.meaning)


class ConversationError(Exception):
    """A client item or item reference the conversation cannot take; ``param`` names the field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


class Conversation:
    """Items in conversation order, addressable by id."""

    def __init__(self) -> None:
        self._items: list[Item] = []

    def __len__(self) -> int:
        return len(self._items)

    @property
    def items(self) -> list[Item]:
        return list(self._items)

    def get(self, item_id: str) -> Item | None:
        return next((item for item in self._items if item.id == item_id), None)

    def require(self, item_id: str, param: str = "item_id") -> Item:
        item = self.get(item_id)
        if item is None:
            raise ConversationError(f"Item with item_id '{item_id}' not found.", param)
        return item

    def last_id(self) -> str | None:
        return self._items[-1].id if self._items else None

    def previous_id(self, item_id: str) -> str | None:
        index = next(i for i, item in enumerate(self._items) if item.id == item_id)
        return self._items[index - 1].id if index > 0 else None

    def insert(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Add ``item`` after ``previous_item_id`` ("root" = first; None = last); returns its predecessor."""
        if self.get(item.id) is not None:
            raise ConversationError(f"Item with id '{item.id}' already exists.", "item.id")
        if previous_item_id is None:
            index = len(self._items)
        elif previous_item_id == "root":
            index = 0
        else:
            anchor = next((i for i, it in enumerate(self._items) if it.id == previous_item_id), None)
            if anchor is None:
                raise ConversationError(f"Previous item with id '{previous_item_id}' not found.", "previous_item_id")
            index = anchor + 1
        self._items.insert(index, item)
        return self._items[index - 1].id if index > 0 else None

    def delete(self, item_id: str) -> None:
        self._items.remove(self.require(item_id))

    def tool_name(self, call_id: str) -> str | None:
        call = next((i for i in self._items if i.type == "function_call" and i.call_id == call_id), None)
        return call.name if call is not None else None

    def brain_messages(self) -> list[BrainMessage]:
        """The conversation as the brain reads it."""
        messages: list[BrainMessage] = []
        for item in self._items:
            if item.type == "function_call":
                messages.append(BrainMessage(role="tool_call", tool=item.name, text=item.arguments))
            elif item.type == "function_call_output":
                name = self.tool_name(item.call_id or "")
                messages.append(BrainMessage(role="tool_result", tool=name, text=item.output))
            elif item.role is not None:
                messages.append(BrainMessage(role=item.role, text=item.text))
        return messages
