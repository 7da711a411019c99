"""What the simulator saw and sent, readable from any thread while it runs."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClientEventRecord:
    """One client event received on a realtime connection (``received_at`` is ``time.monotonic()``).

    ``audio_bytes`` is the pcm carried by an ``input_audio_buffer.append`` (0 for other events).
    """

    connection: int
    type: str
    received_at: float
    audio_bytes: int = 0


@dataclass(frozen=True)
class ChatServed:
    """One chat completion request as the server handled it (``time.monotonic()`` stamps).

    ``parsing_at``: the body was read off the socket, parsing starts; ``finished_at``: the last byte of the
    answer was written. The difference is the provider's own time for the request.
    """

    parsing_at: float
    finished_at: float
    body_bytes: int

    @property
    def seconds(self) -> float:
        return self.finished_at - self.parsing_at


RECENT_CLIENT_EVENTS = 1024
RECENT_CHAT_REQUESTS = 8


class SimulatorStats:
    """Counters and logs of a simulator; every accessor returns a copy, safe to read while it runs.

    With ``record_frames=False`` (long-running servers) server frames are only counted, and only the last
    ``RECENT_CLIENT_EVENTS`` client events (and chat timings) and ``RECENT_CHAT_REQUESTS`` chat bodies are kept.
    """

    def __init__(self, *, record_frames: bool = True) -> None:
        self._record_frames = record_frames
        self._changed = threading.Condition()
        self._connections = 0
        self._open: set[int] = set()
        self._client_events: deque[ClientEventRecord] = deque(
            maxlen=None if record_frames else RECENT_CLIENT_EVENTS)
        self._server_frames: dict[int, list[str]] = {}
        self._server_times: dict[int, list[float]] = {}
        self._chat_requests: deque[dict[str, Any]] = deque(maxlen=None if record_frames else RECENT_CHAT_REQUESTS)
        self._frames_sent = 0
        self._chat_served: deque[ChatServed] = deque(maxlen=None if record_frames else RECENT_CLIENT_EVENTS)
        self._chats_served = 0
        self._chat_streams_cut = 0

    # -- read side -----------------------------------------------------------------------
    @property
    def connections_accepted(self) -> int:
        """Realtime connections accepted so far (numbered 1, 2, ... in that order)."""
        with self._changed:
            return self._connections

    @property
    def open_connections(self) -> int:
        with self._changed:
            return len(self._open)

    @property
    def client_events(self) -> list[ClientEventRecord]:
        """Every client event received, in order."""
        with self._changed:
            return list(self._client_events)

    def client_event_types(self, connection: int | None = None) -> list[str]:
        with self._changed:
            return [e.type for e in self._client_events if connection in (None, e.connection)]

    @property
    def server_frames(self) -> dict[int, list[str]]:
        """Raw JSON of every server event sent, per connection number (empty if not recorded)."""
        with self._changed:
            return {conn: list(frames) for conn, frames in self._server_frames.items()}

    @property
    def server_frame_times(self) -> dict[int, list[float]]:
        """``time.monotonic()`` as each recorded frame was handed to the socket, parallel to :attr:`server_frames`."""
        with self._changed:
            return {conn: list(times) for conn, times in self._server_times.items()}

    @property
    def frames_sent(self) -> int:
        """How many realtime server events went out (counted even when frames are not recorded)."""
        with self._changed:
            return self._frames_sent

    def all_server_frames(self) -> list[str]:
        with self._changed:
            return [frame for frames in self._server_frames.values() for frame in frames]

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of the chat completion requests received, in order."""
        with self._changed:
            return list(self._chat_requests)

    @property
    def chat_served(self) -> list[ChatServed]:
        """When each chat completion request was served (server-side timing), in order."""
        with self._changed:
            return list(self._chat_served)

    @property
    def chats_served(self) -> int:
        """How many chat completion requests were served to the end so far (counted even past the kept records)."""
        with self._changed:
            return self._chats_served

    def chat_served_number(self, number: int, timeout: float = 10.0) -> ChatServed:
        """The server-side timing of the ``number``-th request served (1, 2, ...), once it is recorded: a client has
        its answer's last byte a moment before the simulator's thread records it. ``TimeoutError`` if it is not."""
        if not self.wait_for(lambda stats: stats._chats_served >= number, timeout):
            raise TimeoutError(f"the simulator has not served chat request {number} (served: {self.chats_served})")
        with self._changed:
            back = self._chats_served - number
            if back >= len(self._chat_served):
                raise LookupError(f"chat request {number} is no longer kept (served: {self._chats_served})")
            return self._chat_served[-1 - back]

    def wait_for(self, predicate: Callable[[SimulatorStats], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(stats)`` holds (re-checked on every change); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    # -- write side (simulator loop) -------------------------------------------------------
    def connection_opened(self) -> int:
        with self._changed:
            self._connections += 1
            self._open.add(self._connections)
            if self._record_frames:  # a long-running server keeps nothing per connection
                self._server_frames[self._connections] = []
                self._server_times[self._connections] = []
            self._changed.notify_all()
            return self._connections

    def connection_closed(self, connection: int) -> None:
        with self._changed:
            self._open.discard(connection)
            self._changed.notify_all()

    def client_event(self, connection: int, event_type: str, audio_bytes: int = 0) -> None:
        with self._changed:
            self._client_events.append(ClientEventRecord(connection, event_type, time.monotonic(), audio_bytes))
            self._changed.notify_all()

    def server_frame(self, connection: int, raw: str, sent_at: float) -> None:
        """Count (and record) a frame; ``sent_at`` is the ``time.monotonic()`` it was handed to the socket."""
        with self._changed:
            if self._record_frames:
                self._server_frames.setdefault(connection, []).append(raw)
                self._server_times.setdefault(connection, []).append(sent_at)
            self._frames_sent += 1
            self._changed.notify_all()

    def chat_done(self, record: ChatServed) -> None:
        with self._changed:
            self._chat_served.append(record)
            self._chats_served += 1
            self._changed.notify_all()

    @property
    def chat_streams_cut(self) -> int:
        """Chat completion streams whose client hung up before the end (cancelled turns, exits)."""
        with self._changed:
            return self._chat_streams_cut

    def chat_stream_cut(self) -> None:
        with self._changed:
            self._chat_streams_cut += 1
            self._changed.notify_all()

    def chat_request(self, body: dict[str, Any]) -> None:
        with self._changed:
            self._chat_requests.append(body)
            self._changed.notify_all()
