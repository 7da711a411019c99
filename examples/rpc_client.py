"""Drive the mobkat JSON-RPC server from Python, offline.

Spawns ``mobkat rpc --simulator --live-ws 127.0.0.1:0`` (the built-in simulator stands in for
OpenAI), runs a text turn, then speaks into a live channel over its WebSocket and reads the
committed history back. Run: ``python examples/rpc_client.py``.
"""

from __future__ import annotations

import asyncio
import tempfile

from mobkat.audio import encode_speech, silence
from mobkat.client import MobkatClient, SessionNotFound
from mobkat.history import row_text


async def main(state_root: str) -> None:
    async with await MobkatClient().connect(simulator=True, live_ws=True, state_root=state_root,
                                            realm_id="example") as client:
        assert client.server is not None
        print(f"server: {client.server.server_info.name} {client.server.contract_version}, "
              f"realm {client.server.realm_id}, {len(client.server.methods)} methods")

        catalog = await client.get_models_catalog()
        realtime = [m.id for p in catalog.providers for m in p.models if m.profile and m.profile.realtime]
        print(f"realtime models: {realtime}")

        created = await client.create_session("hello", model="gpt-realtime-2", system_prompt="Answer briefly.")
        print(f"session {created.session_id}: {created.text!r} ({created.usage.output_tokens} output tokens)")
        events = await client.session_events(created.session_id).until("run_completed")
        print(f"first turn events: {[e.type for e in events]}")

        opened = await client.live_open(created.session_id)
        print(f"live channel {opened.channel_id} ({opened.continuity.mode}), socket: "
              f"{(opened.transport.url or '').split('?')[0]}")
        async with client.live_connect(opened) as socket:
            speech = encode_speech("remember the codeword amber lantern") + silence(800)
            await socket.send_audio(speech, frame_ms=40)
            async for observation in socket:
                if observation.observation == "user_transcript_final":
                    print(f"  heard:    {observation.text!r}")
                elif observation.observation == "assistant_transcript_final":
                    print(f"  replied:  {observation.text!r}")
                elif observation.observation == "turn_completed":
                    print(f"  turn completed ({observation.stop_reason}, {observation.committed_messages} rows)")
                    break
            closed = await client.live_close(opened.channel_id)
            print(f"live/close: {closed.status}")

        answer = await client.start_turn(created.session_id, "what codeword did I ask you to remember?")
        print(f"text turn after the live one: {answer.text!r}")
        history = await client.read_session_history(created.session_id)
        print(f"history ({history.message_count} rows):")
        for row in history.messages:
            print(f"  {row.role:15} {row_text(row)}")

        try:
            await client.read_session("00000000-0000-4000-8000-000000000000")
        except SessionNotFound as exc:
            print(f"typed error: {type(exc).__name__} code={exc.code} rpc_code={exc.rpc_code}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="mobkat-example-") as root:
        asyncio.run(main(root))
