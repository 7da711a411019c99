"""Conversation items a client sends (``conversation.item.create``, ``response.create`` input)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from mobkat.audio import duration_ms, ms_for_chars, transcribe
from mobkat.simulator.conversation import ConversationError, Item, Part


def item_from_client(raw: dict[str, Any], new_id: Callable[[str], str]) -> Item:
    """The simulator's item for a client item (already validated by the SDK's types).

    Input audio is "heard" through the speech codec; an assistant ``output_audio`` part counts as
    spoken by the codec, so it can be truncated like generated audio.
    """
    item_id = raw.get("id") or new_id("item")
    kind = raw["type"]
    if kind == "function_call":
        call_id = raw.get("call_id") or new_id("call")
        return Item(id=item_id, type="function_call", call_id=call_id, name=raw["name"], arguments=raw["arguments"])
    if kind == "function_call_output":
        return Item(id=item_id, type="function_call_output", call_id=raw["call_id"], output=raw["output"])
    if kind != "message":
        raise ConversationError(f"The simulator does not support {kind!r} items.", "item.type")
    parts = [_part(p, index) for index, p in enumerate(raw.get("content") or [])]
    return Item(id=item_id, type="message", role=raw["role"], parts=parts)


def _part(raw: dict[str, Any], index: int) -> Part:
    kind = raw.get("type") or "input_text"
    if kind == "input_text":
        return Part(type="input_text", text=raw.get("text") or "")
    if kind == "output_text":
        return Part(type="output_text", text=raw.get("text") or "")
    if kind == "output_audio":
        text = raw.get("transcript") or ""
        return Part(type="output_audio", transcript=text, audio_ms=ms_for_chars(len(text.encode("utf-8"))))
    if kind == "input_audio":
        audio = raw.get("audio")
        try:
            pcm = base64.b64decode(audio or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConversationError(f"audio is not valid base64: {exc}", f"item.content.{index}.audio") from exc
        heard = transcribe(pcm) if audio else raw.get("transcript")
        return Part(type="input_audio", transcript=raw.get("transcript"), heard=heard, audio_ms=duration_ms(pcm))
    raise ConversationError(f"The simulator does not support {kind!r} content.", f"item.content.{index}.type")
