"""A channel's observations on their way to its WebSocket: bounded, never blocking the channel.

The feed is subscribed to the channel at ``live/open`` (so nothing emitted before the socket
connects is lost) and drained by the socket's sender. A slow reader never stalls the channel:
past ``max_audio`` pending audio chunks the oldest chunk is dropped and the reader is told so by a
``command_rejected`` (``output_backpressured``) observation carrying the running count.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from mobkat.live.wire import AssistantAudioChunk, CommandRejected, Observation, rejected

DEFAULT_MAX_AUDIO = 512
DEFAULT_MAX_ITEMS = 4096


def is_terminal(observation: Observation) -> bool:
    """The channel is closed after this observation."""
    return observation.observation == "status_changed" and observation.status.status == "closed"


class ChannelFeed:
    """Callable observer of one channel; read with :meth:`get` on the event loop."""

    def __init__(self, *, max_audio: int = DEFAULT_MAX_AUDIO, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        """Create it on the event loop that reads it."""
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self.max_audio = max_audio
        self.max_items = max_items
        self._items: deque[Observation] = deque()
        self._audio = 0
        self._wake = asyncio.Event()
        self._done = False
        self._detached = False
        self._notice: CommandRejected | None = None
        self.dropped = 0

    def __call__(self, observation: Observation) -> None:
        self.push(observation)

    @property
    def finished(self) -> bool:
        """The channel closed and every observation was read."""
        return self._done and not self._items

    @property
    def detached(self) -> bool:
        return self._detached

    def push(self, observation: Observation) -> None:
        """Queue an observation (thread-safe; the work happens on the loop)."""
        if threading.get_ident() != self._thread_id:
            self._loop.call_soon_threadsafe(self.push, observation)
            return
        if self._detached or self._done:
            return
        if isinstance(observation, AssistantAudioChunk):
            if self._audio >= self.max_audio:
                self._drop_oldest(audio_only=True)
            self._audio += 1
        elif len(self._items) >= self.max_items:
            self._drop_oldest(audio_only=False)
        self._items.append(observation)
        if is_terminal(observation):
            self._done = True
        self._wake.set()

    def detach(self) -> None:
        """The reader is gone: stop queueing."""
        self._detached = True
        self._items.clear()
        self._wake.set()

    async def get(self) -> Observation | None:
        """The next observation; ``None`` once the channel closed and the feed is drained."""
        while not self._items:
            if self._done or self._detached:
                return None
            self._wake.clear()
            await self._wake.wait()
        observation = self._items.popleft()
        if isinstance(observation, AssistantAudioChunk):
            self._audio -= 1
        if observation is self._notice:
            self._notice = None
        return observation

    def _drop_oldest(self, *, audio_only: bool) -> None:
        for index, item in enumerate(self._items):
            if isinstance(item, AssistantAudioChunk) or (not audio_only and item is not self._notice):
                del self._items[index]
                if isinstance(item, AssistantAudioChunk):
                    self._audio -= 1
                break
        self.dropped += 1
        notice = rejected(
            "output_backpressured",
            f"the live socket reader is too slow: {self.dropped} observation(s) dropped so far "
            f"(oldest audio first; at most {self.max_audio} audio chunks wait to be sent)",
            dropped=self.dropped, max_pending_audio_chunks=self.max_audio)
        for index, item in enumerate(self._items):
            if item is self._notice:
                self._items[index] = notice
                break
        else:
            self._items.append(notice)
        self._notice = notice

