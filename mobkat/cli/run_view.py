"""What ``mobkat run`` shows and records: mob events as readable lines, assistant audio as WAV files."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from mobkat.audio import write_wav
from mobkat.live.wire import AssistantAudioChunk, Observation, TurnCompleted
from mobkat.mob.events import MobEvent
from mobkat.mob.mob import Mob


def describe(event: MobEvent) -> str | None:
    """One readable line for an event, or None for events not worth a line (deltas)."""
    get = event.get
    member = get("member")
    kind = event.type
    lines: dict[str, Callable[[], str | None]] = {
        "member_spawned": lambda: f"[{member}] started (address {get('comms_name')})",
        "member_retired": lambda: f"[{member}] retired",
        "member_restarted": lambda: f"[{member}] restarted (generation {get('generation')}): {get('error')}",
        "member_broken": lambda: f"[{member}] BROKEN after {get('restarts')} restarts: {get('error')}",
        "members_wired": lambda: f"[mob] wired {get('a')} <-> {get('b')}",
        "members_unwired": lambda: f"[mob] unwired {get('a')} <-> {get('b')}",
        "peer_message_routed": lambda: f"[{get('sender')} -> {get('receiver')}] {get('kind')} sent",
        "peer_message_rejected": lambda: f"[{get('sender')} -> {get('receiver')}] rejected: {get('reason')}",
        "live_opened": lambda: f"[{member}] live voice channel open",
        "live_closed": lambda: f"[{member}] live voice channel closed" + (f": {get('error')}" if get("error") else ""),
        "live_failed": lambda: f"[{member}] live voice channel failed: {get('error')}",
        "user_transcript": lambda: f"[{member}] heard: {get('text')}",
        "assistant_transcript": lambda: f"[{member}] said: {get('text')}",
        "turn_committed": lambda: (f"[{member}] replied: {get('text')}" if get("text") else None),
        "turn_failed": lambda: f"[{member}] turn failed: {get('error')}",
        "message_dead_lettered": lambda: (f"[{get('sender')} -> {get('receiver')}] message DEAD-LETTERED after "
                                          f"{get('attempts')} attempts ({get('reason')}): {get('error')}"),
    }
    render = lines.get(kind)
    return render() if render else None


class EventPrinter:
    """Follows the mob's events on a thread and prints them until the log closes."""

    def __init__(self, mob: Mob, out: TextIO, observe: Callable[[MobEvent], None] | None = None) -> None:
        self._mob = mob
        self._out = out
        self._observe = observe
        self._thread = threading.Thread(target=self._run, name="mobkat-run-printer", daemon=True)

    def start(self) -> EventPrinter:
        self._thread.start()
        return self

    def _run(self) -> None:
        for event in self._mob.events():
            if self._observe is not None:
                self._observe(event)
            line = describe(event)
            if line:
                print(line, file=self._out, flush=True)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class AudioRecorder:
    """Collects a live member's assistant audio and writes one WAV per spoken response under ``out_dir``."""

    def __init__(self, member: str, out_dir: Path) -> None:
        self.member = member
        self.out_dir = out_dir
        self.files: list[Path] = []
        self._pcm = bytearray()
        self._response_id: str | None = None
        self._lock = threading.Lock()

    def __call__(self, observation: Observation) -> None:
        if isinstance(observation, AssistantAudioChunk):
            if observation.response_id != self._response_id:  # a new spoken response: a new file
                self.flush()
                self._response_id = observation.response_id
            with self._lock:
                self._pcm += base64.b64decode(observation.data)
        elif isinstance(observation, TurnCompleted) and observation.response_id in (None, self._response_id):
            self.flush()  # a turn commits after its audio, maybe while the next response already speaks

    def flush(self) -> Path | None:
        with self._lock:
            if not self._pcm:
                return None
            path = self.out_dir / f"{self.member}-{len(self.files) + 1:03d}.wav"
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_wav(path, bytes(self._pcm))
            self._pcm = bytearray()
            self.files.append(path)
            return path


def summary(mob: Mob, recorders: list[AudioRecorder], store_path: str, schema: str | None = None) -> list[str]:
    """Closing lines: where histories are (``schema``: a PostgreSQL one), how long each is, which audio files
    were written."""
    read = f"mobkat history {store_path} MEMBER" + (f" --schema {schema}" if schema else "")
    lines = [f"histories: {store_path}{f' (schema {schema})' if schema else ''}  (read one: {read})"]
    for info in mob.members():
        rows = mob.member(info["name"]).history()
        lines.append(f"  {info['name']}: session {info['session_id']} ({len(rows)} rows)")
    for recorder in recorders:
        for path in recorder.files:
            lines.append(f"audio: {path}")
    return lines


def render_rows(rows: list[Any]) -> list[str]:
    return [f"  {row.role}: {getattr(row, 'text', None) or getattr(row, 'body', '')}" for row in rows]
