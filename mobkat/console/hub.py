"""The console's view of one running mob: follows its events and its members' live channels, fans frames out.

Runs on the console's own event loop. Live observations arrive on the mob's I/O loop and are handed
over with ``call_soon_threadsafe``. Each page has a bounded outbox; a page that falls
:data:`~mobkat.console.wire.OUTBOX_FRAMES` behind is closed rather than buffered without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

from pydantic import BaseModel

from mobkat.console.cards import CardBook
from mobkat.console.source import MobSource
from mobkat.console.wire import (
    OUTBOX_FRAMES,
    AudioFrame,
    ErrorFrame,
    GoneFrame,
    HelloFrame,
    InterruptedFrame,
    LineFrame,
    MemberCard,
    PeerFrame,
    SpeechFrame,
    WiringFrame,
    dump,
    limits,
)
from mobkat.live.wire import (
    AssistantAudioChunk,
    AssistantTextDelta,
    AssistantTranscriptDelta,
    AssistantTranscriptFinal,
    AssistantTranscriptTruncated,
    CommandRejected,
    LiveErrorObservation,
    Observation,
    TurnInterrupted,
    UserTranscriptFinal,
)
from mobkat.mob.events import MobEvent

log = logging.getLogger(__name__)
BACKLOG_FRAMES = 500


class Outbox:
    """Frames waiting to go to one page; ``None`` tells its writer to close the socket."""

    def __init__(self, capacity: int = OUTBOX_FRAMES) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(capacity + 1)
        self.capacity = capacity
        self.closed = False
        self.overflowed = False

    def put(self, text: str) -> None:
        if self.closed:
            return
        if self.queue.qsize() >= self.capacity:
            self.overflowed = True  # the page fell too far behind: close it rather than buffer without end
            self.close()
            return
        self.queue.put_nowait(text)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class Hub:
    """Cards, wiring and transcripts of one mob, pushed to every connected page."""

    def __init__(self, source: MobSource) -> None:
        self.source = source
        self.book = CardBook(source)
        self.outboxes: set[Outbox] = set()
        self._backlog: deque[str] = deque(maxlen=BACKLOG_FRAMES)  # whole lines, replayed to a page that joins
        self._loop: asyncio.AbstractEventLoop | None = None
        self._follow: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        events = await self.source.events()  # open before the roster is read: nothing falls in between
        roster = await self.source.roster()
        states: dict[str, str | None] = {}
        for info in roster:
            states[info.name] = await self.source.attach_live(info.name, self._observer(info.name))
        self.book.load_roster(roster, states)
        self._follow = asyncio.get_running_loop().create_task(self._follow_events(events))

    async def stop(self) -> None:
        self._closed = True
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
        for outbox in self.outboxes:
            outbox.close()

    # -- pages ------------------------------------------------------------------------------------------
    def join(self) -> Outbox:
        """A new page: the cards and wiring now, then the recent transcript lines and peer messages."""
        outbox = Outbox()
        cards = list(self.book.cards.values())
        outbox.put(dump(HelloFrame(mob_id=self.source.mob_id, members=cards, edges=sorted(self.book.edges),
                                   limits=limits())))
        for text in self._backlog:
            outbox.put(text)
        self.outboxes.add(outbox)
        return outbox

    def leave(self, outbox: Outbox) -> None:
        self.outboxes.discard(outbox)

    def send(self, frame: BaseModel) -> None:
        text = dump(frame)
        if isinstance(frame, LineFrame | PeerFrame) or (isinstance(frame, SpeechFrame) and frame.type != "delta"):
            self._backlog.append(text)
        for outbox in list(self.outboxes):
            outbox.put(text)

    def set_status(self, name: str, status: str) -> None:
        card = self.book.set(name, status=status)
        if card is not None:
            self.send(card)

    # -- live channels ------------------------------------------------------------------------------------
    def _observer(self, name: str) -> Callable[[Observation], None]:
        def observe(observation: Observation) -> None:  # on the mob's I/O loop (or the console's)
            loop = self._loop
            if self._closed or loop is None or loop.is_closed():
                return
            with contextlib.suppress(RuntimeError):  # the console's loop is stopping
                loop.call_soon_threadsafe(self._on_observation, name, observation)
        return observe

    def _on_observation(self, name: str, observation: Observation) -> None:
        card = self.book.on_observation(name, observation)
        if card is not None:
            self.send(card)
        frame = _observation_frame(name, observation)
        if frame is not None:
            self.send(frame)

    # -- events -----------------------------------------------------------------------------------------
    async def _follow_events(self, events: AsyncIterator[MobEvent]) -> None:
        async for event in events:
            try:
                await self._on_event(event)
            except Exception:  # one odd event must not stop the console
                log.exception("console: could not show event %s", event.type)

    async def _on_event(self, event: MobEvent) -> None:
        for card in self.book.on_event(event):
            self.send(card)
        get, kind = event.get, event.type
        member = str(get("member") or "")
        if kind == "live_opened":
            state = await self.source.attach_live(member, self._observer(member))
            updated = self.book.set(member, live=state or "ready", talk_blocked=self.source.blocked(member))
            if updated is not None:
                self.send(updated)
        elif kind in ("members_wired", "members_unwired"):
            self.send(WiringFrame(edges=sorted(self.book.edges)))
        elif kind == "member_retired":
            self.book.retire(member)
            self.send(GoneFrame(member=member))
            self.send(WiringFrame(edges=sorted(self.book.edges)))
        elif kind in ("peer_message_routed", "peer_message_rejected"):
            self._peer(event)
        elif kind == "turn_committed" and get("source") == "turn" and get("text"):
            self.send(LineFrame(member=member, role="assistant", text=str(get("text"))))
        elif kind == "turn_failed":
            self.send(LineFrame(member=member, role="system", text=f"turn failed: {get('error')}"))
        elif kind == "member_restarted":
            self.send(LineFrame(member=member, role="system",
                                text=f"restarted (generation {get('generation')}): {get('error')}"))

    def _peer(self, event: MobEvent) -> None:
        get = event.get
        sender, receiver = str(get("sender")), str(get("receiver"))
        preview = str(get("preview") or "")
        rejected = str(get("reason")) if event.type == "peer_message_rejected" else None
        self.send(PeerFrame(sender=sender, receiver=receiver, kind=str(get("kind")), preview=preview,
                            rejected=rejected))
        if rejected is not None or sender == "operator":  # operator lines: the page that typed one shows it
            return
        for member, text in ((sender, f"→ {receiver}: {preview}"), (receiver, f"← {sender}: {preview}")):
            if member in self.book.cards:
                self.send(LineFrame(member=member, role="peer", text=text))


def _observation_frame(name: str, observation: Observation) -> BaseModel | None:
    if isinstance(observation, AssistantAudioChunk):
        return AudioFrame(member=name, data=observation.data, response_id=observation.response_id,
                          item_id=observation.item_id, content_index=observation.content_index or 0)
    if isinstance(observation, AssistantTranscriptDelta | AssistantTextDelta):
        return SpeechFrame(type="delta", member=name, response_id=observation.response_id, text=observation.delta)
    if isinstance(observation, AssistantTranscriptFinal):
        return SpeechFrame(type="final", member=name, response_id=observation.response_id, text=observation.text)
    if isinstance(observation, AssistantTranscriptTruncated):
        return SpeechFrame(type="cut", member=name, response_id=observation.response_id, text=observation.text or "")
    if isinstance(observation, UserTranscriptFinal):
        return LineFrame(member=name, role="user", text=observation.text)
    if isinstance(observation, TurnInterrupted):
        return InterruptedFrame(member=name, response_id=observation.response_id)
    if isinstance(observation, CommandRejected | LiveErrorObservation):
        return ErrorFrame(code=observation.code.code, message=observation.message, member=name)
    return None


__all__ = ["Hub", "MemberCard", "Outbox"]
