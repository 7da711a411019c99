"""The browser console's WebSocket frames: what the page sends, what the server sends back, and the limits.

Client → server: JSON text frames (:data:`CLIENT_FRAME`, tagged on ``type``) and, between
``{"type": "talk", "on": true}`` and ``{"type": "talk", "on": false}``, binary frames of raw pcm16
24 kHz mono for the member being talked to. Server → client: one JSON object per text frame, tagged
on ``type`` (the models below). Every refused client frame gets an ``error`` frame; the socket stays open.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

MAX_TEXT_FRAME_BYTES = 16 * 1024  # a say line, a talk toggle, a truncate: all tiny
MAX_AUDIO_FRAME_BYTES = 96_000  # 2 s of pcm16 24 kHz mono (the page sends 100 ms frames)
TRANSPORT_MAX_BYTES = 1024 * 1024  # past this the WebSocket layer itself closes the socket (1009)
MAX_SAY_CHARS = 4000
OUTBOX_FRAMES = 2048  # server → page frames queued for one page; a page that falls this far behind is closed
INBOX_FRAMES = 64  # page → mob actions waiting for one page; more is refused with input_backpressured
MemberName = Annotated[str, Field(min_length=1, max_length=128)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- page → server -----------------------------------------------------------------------------------
class SayFrame(_Frame):
    """A typed line for a member: into its live conversation if it has one, else a turn."""

    type: Literal["say"]
    member: MemberName
    text: str = Field(min_length=1, max_length=MAX_SAY_CHARS)


class TalkFrame(_Frame):
    """Push-to-talk on (binary audio frames follow) or off (the utterance ends)."""

    type: Literal["talk"]
    member: MemberName
    on: bool


class CursorFrame(_Frame):
    """The page's real playback cursor in one assistant audio item.

    ``barge_in``: the user started talking over the member: interrupt, then truncate at the cursor.
    ``truncate``: the provider already interrupted (server VAD): only truncate."""

    type: Literal["barge_in", "truncate"]
    member: MemberName
    item_id: str = Field(min_length=1, max_length=256)
    content_index: int = Field(default=0, ge=0, le=64)
    audio_played_ms: int = Field(ge=0, le=24 * 3600 * 1000)


ClientFrame = Annotated[SayFrame | TalkFrame | CursorFrame, Field(discriminator="type")]
CLIENT_FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class FrameRejected(Exception):
    """A client frame the console refuses: ``code`` names why (sent back as an ``error`` frame)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(text: str) -> ClientFrame:
    """Parse one text frame; :class:`FrameRejected` (``frame_too_large``, ``bad_json``, ``unknown_type``,
    ``invalid_frame``) names the problem."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_FRAME_BYTES:
        raise FrameRejected("frame_too_large", f"text frame of {size} bytes; the limit is {MAX_TEXT_FRAME_BYTES}")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FrameRejected("bad_json", f"text frame is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise FrameRejected("invalid_frame", "a text frame must be a JSON object with a \"type\"")
    kind = raw.get("type")
    if kind not in ("say", "talk", "barge_in", "truncate"):
        raise FrameRejected("unknown_type", f"unknown frame type {str(kind)[:40]!r}; expected say, talk, "
                                            "barge_in or truncate")
    try:
        return CLIENT_FRAME.validate_python(raw)
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'frame'}: {e['msg']}" for e in exc.errors())
        raise FrameRejected("invalid_frame", f"{kind} frame: {problem}") from None


def check_audio_frame(data: bytes) -> None:
    """A binary frame must be whole pcm16 samples within :data:`MAX_AUDIO_FRAME_BYTES`."""
    if len(data) > MAX_AUDIO_FRAME_BYTES:
        raise FrameRejected("frame_too_large", f"audio frame of {len(data)} bytes; the limit is "
                                               f"{MAX_AUDIO_FRAME_BYTES} (2 s of pcm16 24 kHz mono)")
    if not data or len(data) % 2:
        raise FrameRejected("invalid_audio", f"audio frame of {len(data)} bytes is not whole pcm16 samples")


# -- server → page -----------------------------------------------------------------------------------
MemberStatus = Literal["spawning", "idle", "thinking", "listening", "speaking", "restarting", "broken"]


class MemberCard(_Frame):
    """What a member's card shows."""

    type: Literal["card"] = "card"
    name: str
    profile: str
    model: str
    status: MemberStatus
    live: str | None = None  # the live channel's state (ready, degraded, closed, ...), None without one
    live_capable: bool = False
    generation: int = 0
    talk_blocked: str | None = None  # why push-to-talk is off for this member (e.g. the server has no --live-ws)


class WiringFrame(_Frame):
    type: Literal["wiring"] = "wiring"
    edges: list[tuple[str, str]]


class HelloFrame(_Frame):
    type: Literal["hello"] = "hello"
    mob_id: str
    members: list[MemberCard]
    edges: list[tuple[str, str]]
    limits: dict[str, int]


class GoneFrame(_Frame):
    """A member was retired: its card goes."""

    type: Literal["gone"] = "gone"
    member: str


class PeerFrame(_Frame):
    type: Literal["peer"] = "peer"
    sender: str
    receiver: str
    kind: str
    preview: str = ""
    rejected: str | None = None


class LineFrame(_Frame):
    """A whole transcript line (user speech or typed text, a peer message, a non-live member's reply)."""

    type: Literal["line"] = "line"
    member: str
    role: Literal["user", "assistant", "peer", "system"]
    text: str


class SpeechFrame(_Frame):
    """Assistant speech as it streams: ``delta`` appends, ``final`` replaces, ``cut`` marks a cut-off turn."""

    type: Literal["delta", "final", "cut"]
    member: str
    response_id: str | None = None
    text: str


class AudioFrame(_Frame):
    type: Literal["audio"] = "audio"
    member: str
    data: str  # base64 pcm16 24 kHz mono
    response_id: str | None = None
    item_id: str | None = None
    content_index: int = 0


class InterruptedFrame(_Frame):
    type: Literal["interrupted"] = "interrupted"
    member: str
    response_id: str | None = None


class TruncatedFrame(_Frame):
    type: Literal["truncated"] = "truncated"
    member: str
    item_id: str
    audio_played_ms: int
    heard: str


class ErrorFrame(_Frame):
    type: Literal["error"] = "error"
    code: str
    message: str
    member: str | None = None


def dump(frame: BaseModel) -> str:
    """A server frame as its JSON text."""
    return frame.model_dump_json(exclude_none=True)


def limits() -> dict[str, int]:
    return {"max_text_frame_bytes": MAX_TEXT_FRAME_BYTES, "max_audio_frame_bytes": MAX_AUDIO_FRAME_BYTES,
            "max_say_chars": MAX_SAY_CHARS}
