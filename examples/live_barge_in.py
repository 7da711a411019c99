"""Barge-in: interrupt the assistant mid-sentence and keep in history only what the listener heard.

The simulator (standing in for OpenAI, offline) runs at pace 1.0: its audio arrives in real time,
100 ms per chunk, so there is a "middle" of the response to interrupt. The example plays the
assistant's audio through a pretend player that keeps 200 ms buffered, so the playback cursor
(what was really heard) trails what was received. Two ways to barge in:

1. the caller interrupts (a "stop" button): ``live_interrupt`` + ``live_truncate`` at the cursor;
2. the user talks over the assistant: server VAD detects speech and the provider cancels the
   response; the caller still truncates at its playback cursor.

    python examples/live_barge_in.py
"""

from __future__ import annotations

import base64
import json
import tempfile
from pathlib import Path

from mobkat.actor import SessionHandle
from mobkat.audio import duration_ms, encode_speech, silence
from mobkat.config import MobkatConfig
from mobkat.history import BlockAssistantRow, row_text, row_to_wire
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import AssistantAudioChunk, AudioChunk, Observation, TextChunk, UserTranscriptFinal
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore

PLAYER_BUFFER_MS = 200
STORY = "please tell me a long story about a lighthouse keeper and the sea"


class Player:
    """A pretend audio player: it has played everything received except the last ``PLAYER_BUFFER_MS``."""

    def __init__(self) -> None:
        self.received_ms = 0
        self.item_id: str | None = None
        self.transcript = ""

    def feed(self, observation: Observation) -> None:
        if isinstance(observation, AssistantAudioChunk):
            self.item_id = observation.item_id
            self.received_ms += duration_ms(base64.b64decode(observation.data))
        elif observation.observation == "assistant_transcript_delta":
            self.transcript += observation.delta

    @property
    def played_ms(self) -> int:
        return max(self.received_ms - PLAYER_BUFFER_MS, 0)


def listen(stream: ObservationStream, player: Player, *, audio_ms: int) -> None:
    """Feed the player until it has received at least ``audio_ms`` of assistant audio."""
    while player.received_ms < audio_ms:
        player.feed(stream.next(timeout=10))


def show_rest_of_turn(stream: ObservationStream) -> None:
    """Print the observations that close the interrupted turn (up to its durable commit)."""
    while True:
        observation = stream.next(timeout=10)
        if observation.observation in ("assistant_audio_chunk", "assistant_transcript_delta"):
            continue  # already queued when we interrupted: the player drops them
        wire = observation.to_wire()
        tag = wire.pop("observation")
        wire.pop("response_id", None)
        wire.pop("provider_item_id", None)
        print(f"  {tag:<30} {json.dumps(wire)}")
        if tag == "turn_completed":
            return


def speech(text: str) -> list[AudioChunk]:
    """``text`` spoken with the codec plus 700 ms of silence, in 100 ms chunks."""
    pcm = encode_speech(text) + silence(700)
    return [AudioChunk(data=base64.b64encode(pcm[i:i + 4800]).decode()) for i in range(0, len(pcm), 4800)]


def last_assistant(handle: SessionHandle) -> BlockAssistantRow:
    row = next(r for r in reversed(handle.history()) if isinstance(r, BlockAssistantRow))
    print("  history row:", json.dumps(row_to_wire(row)))
    return row


def main() -> None:
    with Simulator() as sim, tempfile.TemporaryDirectory(prefix="mobkat-example-") as tmp:
        print(f"simulator: stands in for OpenAI at {sim.base_url} (offline; no API key, nothing leaves this machine)")
        sim.set_pace(1.0)  # 1 s of generated audio takes 1 s of wall time
        store = SqliteSessionStore(Path(tmp) / "sessions.db")
        with SessionServices(store=store, config=MobkatConfig(), simulator_base_url=sim.base_url) as services:
            session = Session.create(services, model="gpt-realtime-2")
            handle = SessionHandle.start(session, truncate_grace_s=0.5)
            try:
                handle.run_turn("hello")  # a session must have run a turn before it can go live
                stream = ObservationStream()
                channel_id = handle.live_open(observer=stream).channel_id
                stream.wait_for("ready")

                print("\n1) caller barge-in: interrupt + truncate at the playback cursor")
                handle.live_send_input(channel_id, TextChunk(text=STORY))
                player = Player()
                listen(stream, player, audio_ms=600)
                interrupted = handle.live_interrupt(channel_id)
                assert player.item_id is not None
                heard = handle.live_truncate(channel_id, player.item_id, 0, player.played_ms)
                print(f"  interrupted response {interrupted}")
                print(f"  received {player.received_ms} ms of audio, transcript so far: {player.transcript!r}")
                print(f"  played {player.played_ms} ms -> live_truncate says the listener heard: {heard!r}")
                show_rest_of_turn(stream)
                row = last_assistant(handle)
                print(f"  history keeps only what was heard: {row.text == heard} (stop_reason={row.stop_reason})")

                print("\n2) voice barge-in: the user talks over the assistant (server VAD cancels the response)")
                handle.live_send_input(channel_id, TextChunk(text=STORY))
                player = Player()
                listen(stream, player, audio_ms=500)
                words = speech("wait")
                handle.live_send_input(channel_id, words[0])  # the first 100 ms of the user's voice
                stream.wait_for("turn_interrupted")
                assert player.item_id is not None
                heard = handle.live_truncate(channel_id, player.item_id, 0, player.played_ms)
                print(f"  turn_interrupted (server VAD heard the user); received {player.received_ms} ms, "
                      f"played {player.played_ms} ms, heard: {heard!r}")
                show_rest_of_turn(stream)
                row = last_assistant(handle)
                print(f"  history keeps only what was heard: {row.text == heard} (stop_reason={row.stop_reason})")
                for chunk in words[1:]:  # the rest of the user's sentence, then the assistant answers it
                    handle.live_send_input(channel_id, chunk)
                said = stream.wait_for("user_transcript_final")
                assert isinstance(said, UserTranscriptFinal)  # wait_for returns the Observation union
                print(f"  user said: {said.text!r}")
                stream.wait_for("turn_completed", timeout=15)

                handle.live_close(channel_id)
                print("\ncommitted history after the channel closed:")
                for committed in handle.history():
                    stop = f" [{committed.stop_reason}]" if isinstance(committed, BlockAssistantRow) else ""
                    print(f"  {committed.role:<16} {row_text(committed)!r}{stop}")
            finally:
                handle.stop()
        store.close()


if __name__ == "__main__":
    main()
