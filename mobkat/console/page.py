"""One connected page: its frames become mob calls, in order, off the console's loop.

Text frames are parsed (:func:`~mobkat.console.wire.parse_client_frame`), binary frames are audio for
the member the page is talking to. Accepted frames wait in a bounded inbox and run one at a time (the
mob's calls block on actors); a refused frame or a failed call comes back as an ``error`` frame.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from mobkat.audio import silence
from mobkat.client import MobkatClientError
from mobkat.console.hub import Hub, Outbox
from mobkat.console.wire import (
    INBOX_FRAMES,
    ClientFrame,
    CursorFrame,
    ErrorFrame,
    FrameRejected,
    LineFrame,
    SayFrame,
    TalkFrame,
    TruncatedFrame,
    check_audio_frame,
    dump,
    parse_client_frame,
)
from mobkat.errors import MemberNotFoundError, MobError, MobkatError

log = logging.getLogger(__name__)
END_OF_TALK_SILENCE_MS = 700  # after push-to-talk ends: enough silence for server VAD to close the utterance


@dataclass(frozen=True)
class _Audio:
    member: str
    pcm: bytes


class PageSession:
    """Serves one page's input until it leaves."""

    def __init__(self, hub: Hub, outbox: Outbox, inbox_frames: int = INBOX_FRAMES) -> None:
        self.hub = hub
        self.source = hub.source
        self.outbox = outbox
        self.talking: str | None = None
        self._inbox: asyncio.Queue[ClientFrame | _Audio] = asyncio.Queue(inbox_frames)
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> PageSession:
        self._worker = asyncio.get_running_loop().create_task(self._work())
        return self

    async def stop(self) -> None:
        if self.talking is not None:
            self.hub.set_status(self.talking, "idle")
        if self._worker is not None:
            self._worker.cancel()

    def reject(self, code: str, message: str, member: str | None = None) -> None:
        self.outbox.put(dump(ErrorFrame(code=code, message=message, member=member)))

    # -- frames in --------------------------------------------------------------------------------------
    def on_text(self, text: str) -> None:
        try:
            frame = parse_client_frame(text)
            if isinstance(frame, TalkFrame):
                self._talk_toggle(frame)
            self._enqueue(frame)
        except FrameRejected as exc:
            self.reject(exc.code, exc.message)

    def on_binary(self, data: bytes) -> None:
        try:
            check_audio_frame(data)
            if self.talking is None:
                raise FrameRejected("not_talking", "an audio frame came without push-to-talk on; send "
                                                   '{"type": "talk", "member": NAME, "on": true} first')
            self._enqueue(_Audio(self.talking, data))
        except FrameRejected as exc:
            self.reject(exc.code, exc.message)

    def _talk_toggle(self, frame: TalkFrame) -> None:
        if frame.on:
            card = self.hub.book.cards.get(frame.member)
            if card is None or not card.live_capable:
                raise FrameRejected("not_live", f"member {frame.member!r} has no live channel to talk to")
            blocked = self.source.blocked(frame.member)
            if blocked:
                raise FrameRejected("not_live", f"cannot talk to {frame.member!r}: {blocked}")
            self.talking = frame.member
        elif self.talking == frame.member:
            self.talking = None

    def _enqueue(self, item: ClientFrame | _Audio) -> None:
        try:
            self._inbox.put_nowait(item)
        except asyncio.QueueFull:
            raise FrameRejected("input_backpressured", f"{self._inbox.maxsize} frames are already waiting for "
                                                       "the mob; this one is dropped") from None

    # -- mob calls ----------------------------------------------------------------------------------------
    async def _work(self) -> None:
        while True:
            item = await self._inbox.get()
            member = item.member
            try:
                await self._do(item)
            except (MobkatError, MobkatClientError) as exc:
                self.reject(exc.code, exc.message, member)
            except Exception as exc:  # report it, keep serving the page
                log.exception("console: %s failed", type(item).__name__)
                self.reject("internal_error", f"{type(exc).__name__}: {exc}", member)

    async def _do(self, item: ClientFrame | _Audio) -> None:
        hub, source = self.hub, self.source
        if isinstance(item, _Audio):
            await source.send_audio(item.member, item.pcm)
        elif isinstance(item, SayFrame):
            if item.member not in hub.book.cards:
                raise MemberNotFoundError(f"member {item.member!r} not found (members: "
                                          f"{', '.join(sorted(hub.book.cards))})")
            # shown before it is sent: a fast reply must not appear above the line it answers
            hub.send(LineFrame(member=item.member, role="user", text=item.text))
            hub.set_status(item.member, "thinking")
            try:
                await source.say(item.member, item.text)
            except Exception:
                hub.set_status(item.member, "idle")  # refused: nothing is thinking about it
                raise
        elif isinstance(item, TalkFrame):
            await self._talk(item)
        elif isinstance(item, CursorFrame):
            if item.type == "barge_in":  # interrupt first; then keep what the page really played
                await source.interrupt(item.member)
            heard = await source.truncate(item.member, item.item_id, item.content_index, item.audio_played_ms)
            hub.send(TruncatedFrame(member=item.member, item_id=item.item_id,
                                    audio_played_ms=item.audio_played_ms, heard=heard))

    async def _end_talk(self, member: str, profile: str) -> None:
        if await self.source.explicit_commit(member, profile):
            await self.source.commit(member)
        else:  # the mic may stop mid-word: trailing silence lets the provider's VAD end the utterance
            await self.source.send_audio(member, silence(END_OF_TALK_SILENCE_MS))

    async def _talk(self, frame: TalkFrame) -> None:
        hub = self.hub
        if frame.on:
            if not await self.source.has_live(frame.member):
                if self.talking == frame.member:
                    self.talking = None
                raise MobError(f"member {frame.member} has no open live channel to talk to")
            hub.set_status(frame.member, "listening")
            return
        card = hub.book.cards.get(frame.member)
        await self._end_talk(frame.member, card.profile if card is not None else frame.member)
        hub.set_status(frame.member, "idle")
