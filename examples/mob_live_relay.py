"""A live member relays a spoken question to a text peer and speaks the answer (mobs/live-demo.toml).

The host is a gpt-realtime-2 member: the supervisor opens its live channel after its first committed
turn. We speak a question into that channel in 100 ms audio chunks; the host's model asks the researcher
with ``send_message``; the researcher answers by ``send_message``; the answer goes into the host's live
conversation, and the host speaks it.

Runs offline: ``simulator=True`` starts the built-in simulator, whose tone codec (mobkat.audio) lets it
"hear" and "speak" exact words, and whose mob rules (mobkat/mob/sim_rules.py) make the members relay.

    python examples/mob_live_relay.py
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from mobkat.audio import decode_speech, duration_ms, encode_speech, silence
from mobkat.history import BlockAssistantRow, HistoryRow, SystemNoticeRow, ToolResultsRow, UserRow
from mobkat.live.wire import AssistantAudioChunk, AudioChunk, Observation, TurnCompleted
from mobkat.mob import Mob, MobEvent

DEMO = Path(__file__).resolve().parents[1] / "mobs" / "live-demo.toml"
QUESTION = "Ask the researcher: what do meerkats eat?"
CHUNK_BYTES = 4800  # 100 ms of PCM16 24 kHz mono


class SpokenTurns:
    """A live-channel observer: the host's assistant audio, one PCM buffer per finished turn."""

    def __init__(self) -> None:
        self.turns: list[bytes] = []
        self._pcm = bytearray()
        self._lock = threading.Lock()

    def __call__(self, observation: Observation) -> None:  # runs on the I/O loop: keep it short
        with self._lock:
            if isinstance(observation, AssistantAudioChunk):
                self._pcm += base64.b64decode(observation.data)
            elif isinstance(observation, TurnCompleted) and self._pcm:
                self.turns.append(bytes(self._pcm))
                self._pcm = bytearray()


def speech_chunks(text: str) -> list[AudioChunk]:
    """``text`` spoken with the codec plus 700 ms of silence (server VAD ends the turn), in 100 ms chunks."""
    pcm = encode_speech(text) + silence(700)
    return [AudioChunk(data=base64.b64encode(pcm[i:i + CHUNK_BYTES]).decode()) for i in range(0, len(pcm), CHUNK_BYTES)]


def event_line(event: MobEvent) -> str | None:
    """What we follow: transcripts, routed messages, committed turns (deltas are left out)."""
    who = event.get("member")
    lines = {
        "user_transcript": f"{who} heard:  {event.get('text')!r}",
        "assistant_transcript": f"{who} said:   {event.get('text')!r}",
        "peer_message_routed": f"routed {event.get('kind')}: {event.get('sender')} -> {event.get('receiver')}",
        "turn_committed": f"{who} committed a turn ({event.get('source')}, {event.get('messages')} rows)",
    }
    line = lines.get(event.type)
    return f"  {event.cursor:>3} {line}" if line else None


def row_line(row: HistoryRow) -> str:
    if isinstance(row, UserRow):
        return f"    user            {row.text!r}"
    if isinstance(row, SystemNoticeRow):
        kind = row.blocks[0]["kind"] if row.blocks else row.kind
        return f"    system_notice   [{kind}] {row.body!r}"
    if isinstance(row, BlockAssistantRow):
        calls = [f"{b.data['name']}({b.data['args']})" for b in row.tool_uses]
        block = row.blocks[-1].block_type
        return f"    block_assistant [{block}] {row.text!r}" if row.text else f"    block_assistant calls {calls}"
    if isinstance(row, ToolResultsRow):
        return f"    tool_results    {[r.content for r in row.results]}"
    return f"    {row.role}"


def main() -> None:
    with Mob.from_toml(DEMO, simulator=True) as mob:
        assert mob.simulator is not None
        print(f"simulator: stands in for OpenAI at {mob.simulator.base_url} (offline; no API key, "
              "nothing leaves this machine)")
        print(f"mob {mob.id}: spawned {mob.spawn_members()}")
        opened = mob.wait_for_event(lambda e: e.type == "live_opened" and e.get("member") == "host", timeout=20)
        print(f"  {opened.cursor:>3} host's live channel is open: {opened.get('channel_id')} "
              f"({opened.get('turning_mode')}, continuity {opened.get('continuity')})")
        host = mob.member("host")
        spoken = SpokenTurns()
        host.live.subscribe(spoken)

        chunks = speech_chunks(QUESTION)
        cursor = mob.events_log.latest
        print(f"\nspeaking {QUESTION!r} into the host's channel: {len(chunks)} chunks of 100 ms")
        for chunk in chunks:
            host.live.send_input(chunk)

        answer: MobEvent | None = None
        for event in mob.events(after=cursor, timeout=20):
            line = event_line(event)
            if line:
                print(line)
            if event.type == "assistant_transcript" and event.get("member") == "host" \
                    and event.get("text", "").startswith("researcher says:"):
                answer = event
            if answer is not None and event.type == "turn_committed" and event.get("member") == "host":
                break  # the spoken answer is committed into the host's history
        if answer is None:
            raise SystemExit("the host never spoke the researcher's answer")
        mob.wait_idle(10)

        print("\nwhat the host spoke (decoded from its audio):")
        for number, pcm in enumerate(spoken.turns, 1):
            print(f"  turn {number}: {duration_ms(pcm)} ms -> {decode_speech(pcm)!r}")
        for name in ("host", "researcher"):
            rows = mob.member(name).history()
            print(f"\nhistory of {name} ({len(rows)} rows):")
            for row in rows:
                print(row_line(row))
    print("\nmob stopped (the host's live channel was closed first)")


if __name__ == "__main__":
    main()
