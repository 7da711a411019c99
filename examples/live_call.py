"""A live call: open a live channel on a gpt-realtime-2 session, speak to it, save the reply as WAV.

Runs offline: the built-in simulator stands in for OpenAI. It "hears" and "speaks" with mobkat's
deterministic tone codec (mobkat.audio), so the spoken words round-trip exactly.

    python examples/live_call.py [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from mobkat.actor import SessionHandle
from mobkat.audio import decode_speech, duration_ms, encode_speech, silence, write_wav
from mobkat.config import MobkatConfig
from mobkat.history import row_to_wire
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import AssistantAudioChunk, AudioChunk, Observation
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import SqliteSessionStore

CHUNK_MS = 100
SENTENCE = "remember the codeword amber lantern"


def describe(observation: Observation) -> str:
    """One compact line per observation: its tag and the text it carries."""
    wire = observation.to_wire()
    tag = wire.pop("observation")
    for noisy in ("provider_item_id", "item_id", "response_id", "content_index", "usage"):
        wire.pop(noisy, None)
    return f"{tag:<30} {json.dumps(wire)}" if wire else tag


def speech_chunks(text: str) -> list[AudioChunk]:
    """``text`` spoken with the codec, then 700 ms of silence (so server VAD ends the turn), in 100 ms chunks."""
    pcm = encode_speech(text) + silence(700)
    step = 48 * CHUNK_MS  # 24 kHz x 2 bytes per sample = 48 bytes per ms
    return [AudioChunk(data=base64.b64encode(pcm[i:i + step]).decode()) for i in range(0, len(pcm), step)]


def print_until(stream: ObservationStream, last: Callable[[Observation], bool], audio: bytearray) -> None:
    """Print observations in arrival order up to ``last``; audio chunks are summarized and kept in ``audio``."""
    while True:
        observation = stream.next(timeout=15)
        if isinstance(observation, AssistantAudioChunk):
            pcm = base64.b64decode(observation.data)
            audio += pcm
            print(f"  {'assistant_audio_chunk':<30} {len(pcm)} bytes = {duration_ms(pcm)} ms "
                  f"(total {duration_ms(bytes(audio))} ms)")
        else:
            print("  " + describe(observation))
        if last(observation):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=None, help="directory for the WAV file (default: a temp dir)")
    args = parser.parse_args()
    out_dir: Path = args.out or Path(tempfile.mkdtemp(prefix="mobkat-live-call-"))
    out_dir.mkdir(parents=True, exist_ok=True)

    with Simulator() as sim, tempfile.TemporaryDirectory(prefix="mobkat-example-") as tmp:
        print(f"simulator: stands in for OpenAI at {sim.base_url} (offline; no API key, nothing leaves this machine)")
        store = SqliteSessionStore(Path(tmp) / "sessions.db")
        with SessionServices(store=store, config=MobkatConfig(), simulator_base_url=sim.base_url) as services:
            session = Session.create(services, model="gpt-realtime-2", instructions="Answer briefly.")
            handle = SessionHandle.start(session)
            try:
                # 1. A session must have run a turn before it can host a live channel (idle sessions cannot).
                #    With no channel open, this turn runs over a short-lived realtime connection.
                first = handle.run_turn("hello")
                print(f"text turn: > hello  < {first.text}")

                # 2. Open the live channel; the stream records every observation for us to read.
                stream = ObservationStream()
                opened = handle.live_open(observer=stream)
                channel_id = opened.channel_id
                print(f"live_open: channel {channel_id}")
                print(f"  continuity={opened.continuity.model_dump()} turning_mode={opened.turning_mode}")
                caps = opened.capabilities.model_dump()
                print(f"  capabilities: {', '.join(name for name, on in caps.items() if on)}")
                print(f"  status: {handle.live_status(channel_id).to_wire()}; observations so far:")
                audio = bytearray()
                print_until(stream, lambda o: o.observation == "ready", audio)

                # 3. Speak a sentence in 100 ms chunks; server VAD ends the turn after the trailing silence.
                chunks = speech_chunks(SENTENCE)
                print(f"speaking {SENTENCE!r}: {len(chunks)} chunks of {CHUNK_MS} ms")
                for chunk in chunks:
                    handle.live_send_input(channel_id, chunk)
                print_until(stream, lambda o: o.observation == "turn_completed", audio)

                # 4. Save what the assistant said; the codec lets us read the words back out of the audio.
                wav = out_dir / "assistant.wav"
                write_wav(wav, bytes(audio))
                print(f"wrote {wav} ({duration_ms(bytes(audio))} ms); decoded: {decode_speech(bytes(audio))!r}")

                closed = handle.live_close(channel_id)
                print(f"live_close: {closed.to_wire()}; observations:")
                print_until(stream, lambda o: o.observation == "status_changed" and o.status.status == "closed", audio)
                print("committed history:")
                for row in handle.history():
                    print("  ", json.dumps(row_to_wire(row)))

                # 5. The channel is gone, the history stays: a request/response turn recalls the spoken codeword.
                question = "what codeword did I ask you to remember?"
                answer = handle.run_turn(question)
                print(f"text turn: > {question}  < {answer.text}")
            finally:
                handle.stop()
        store.close()


if __name__ == "__main__":
    main()
