"""What one Realtime connection of the simulator may hold: input audio, conversation items and text.

A client that goes past a bound gets the real API's ``error`` event (``invalid_request_error`` with a
``code``), the event's content is not kept, and the connection goes on. The WebSocket frame itself is
capped by the server (``MAX_FRAME_BYTES``), so no single event can be larger than that either.
"""

from __future__ import annotations

from mobkat.audio import bytes_for_ms
from mobkat.simulator.conversation import Conversation, Item

MAX_APPEND_AUDIO_CHARS = 15 * 1024 * 1024
"""One ``input_audio_buffer.append``: at most 15 MiB of base64 (the limit OpenAI documents for the event)."""
MAX_BUFFERED_AUDIO_MS = 5 * 60 * 1000
"""Uncommitted input audio: 5 minutes of 24 kHz PCM16 (14.4 MB); commit or clear to make room."""
MAX_BUFFERED_AUDIO_BYTES = bytes_for_ms(MAX_BUFFERED_AUDIO_MS)
MAX_CONVERSATION_ITEMS = 1000
"""Items in one connection's conversation (client items, committed audio, responses)."""
MAX_CONVERSATION_CHARS = 16 * 1024 * 1024
"""Text, transcripts, tool arguments and outputs held by one connection's conversation, in characters."""


class LimitExceeded(Exception):
    """A client event would take a connection past one of its bounds; becomes an ``error`` event."""

    def __init__(self, message: str, *, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


def check_append(audio: str, buffered_bytes: int) -> None:
    """Refuse an append (``audio``: its base64) that is too large, or that would overfill the buffer; checked
    before decoding, so a refused event never allocates its audio."""
    audio_b64_chars = len(audio)
    if audio_b64_chars > MAX_APPEND_AUDIO_CHARS:
        raise LimitExceeded(
            f"Invalid 'audio': string too long. Expected a string with maximum length {MAX_APPEND_AUDIO_CHARS}, "
            f"but got a string with length {audio_b64_chars} instead.",
            code="string_above_max_length", param="audio")
    incoming = audio_b64_chars * 3 // 4 - audio[-2:].count("=")
    if buffered_bytes + incoming > MAX_BUFFERED_AUDIO_BYTES:
        raise LimitExceeded(
            f"The input audio buffer is full: it holds {buffered_bytes} bytes of audio and this append adds "
            f"{incoming}, past the limit of {MAX_BUFFERED_AUDIO_BYTES} bytes ({MAX_BUFFERED_AUDIO_MS // 1000} s "
            "of 24 kHz PCM16). The audio of this event was not added: commit or clear the buffer.",
            code="input_audio_buffer_full", param="audio")


def item_chars(item: Item) -> int:
    """The characters an item holds (text, transcripts, what was heard, tool arguments and output)."""
    parts = sum(len(p.text or "") + len(p.transcript or "") + len(p.heard or "") for p in item.parts)
    return parts + len(item.arguments) + len(item.output)


def check_room(conversation: Conversation, item: Item | None = None) -> None:
    """Refuse growing a conversation that is full (``item``: the one about to be added, if known)."""
    if len(conversation) >= MAX_CONVERSATION_ITEMS:
        raise LimitExceeded(
            f"The conversation is full: it has {len(conversation)} items, the limit is {MAX_CONVERSATION_ITEMS}. "
            "Delete items (conversation.item.delete) or open a new session.", code="conversation_full")
    if item is not None:
        held = sum(item_chars(existing) for existing in conversation.items)
        if held + item_chars(item) > MAX_CONVERSATION_CHARS:
            raise LimitExceeded(
                f"The conversation is full: it holds {held} characters and this item adds {item_chars(item)}, "
                f"past the limit of {MAX_CONVERSATION_CHARS}. Delete items (conversation.item.delete) or open a "
                "new session.", code="conversation_full", param="item")
