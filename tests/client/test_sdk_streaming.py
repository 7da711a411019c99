"""The upstream Meerkat SDK's streaming (meerkat-sdk 0.8.26, unmodified) against ``mobkat-rpc``.

``create_session_streaming`` / ``Session.stream`` parse every ``session/event`` strictly as an
``EventEnvelope`` (canonical UUIDs, unsigned ``seq``, object payload); subscriptions parse
``session/stream_event`` and ``mob/stream_event`` frames (``AttributedEvent`` for the mob-wide stream).
Any wrong shape raises ``MeerkatError("INVALID_RESPONSE")`` inside the SDK.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from meerkat import MeerkatClient, MeerkatError
from meerkat.events import (
    RunCompleted,
    RunStarted,
    TextComplete,
    TextDelta,
    ToolCallRequested,
    ToolExecutionCompleted,
    ToolResultReceived,
    TurnCompleted,
    TurnStarted,
)
from meerkat.streaming import EventSubscription
from meerkat.types import AttributedEvent, EventEnvelope

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
DESK = {"id": "newsroom", "profiles": {"editor": {**TEXT, "external_addressable": True}, "fact": TEXT}}


async def _until_completed(subscription: EventSubscription, timeout: float = 20.0) -> list[Any]:
    """Items of ``subscription`` up to and including the first ``run_completed`` payload."""
    seen: list[Any] = []
    async with asyncio.timeout(timeout):
        async for item in subscription:
            seen.append(item)
            envelope = item.envelope if isinstance(item, AttributedEvent) else item
            if isinstance(envelope.payload, RunCompleted):
                return seen
    raise AssertionError(f"the subscription ended before run_completed: {seen}")


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_streams_turns_and_subscribes_to_sessions(tmp_path: Path) -> None:
    asyncio.run(_sessions(tmp_path))


async def _sessions(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk-stream", state_root=str(tmp_path / "state"))
    try:
        async with client.create_session_streaming("hello there", model="gpt-5.5") as stream:
            events = [event async for event in stream]
        assert stream.result.text == "You said: hello there" and stream.session_id == stream.result.session_id
        assert [type(e) for e in (events[0], events[1], events[-3], events[-2], events[-1])] == [
            RunStarted, TurnStarted, TextComplete, TurnCompleted, RunCompleted]
        assert events[0].session_id == stream.session_id and events[0].prompt == "hello there"
        assert "".join(e.delta for e in events if isinstance(e, TextDelta)) == "You said: hello there"
        completed = events[-1]
        assert completed.result == "You said: hello there" and completed.usage.output_tokens > 0
        assert events[-2].stop_reason == "end_turn" and events[1].turn_number == 0

        session = await client.create_session("first", model="gpt-5.5")
        subscription = await session.subscribe_events()
        text, result = await session.stream("remember the codeword fig").collect_text()
        assert text == result.text == "Okay, I will remember: fig."
        seen = await _until_completed(subscription)
        assert all(isinstance(e, EventEnvelope) for e in seen)
        assert [e.seq for e in seen] == list(range(seen[0].seq, seen[0].seq + len(seen)))
        assert seen[0].seq > 1  # seq keeps counting across the session's turns
        assert {e.source.type for e in seen} == {"session"} and {e.source.session_id for e in seen} == {session.id}
        assert isinstance(seen[0].payload, RunStarted) and seen[-1].payload.result == "Okay, I will remember: fig."

        second = await client.subscribe_session_events(session.id)
        await session.turn("what codeword did I ask you to remember?")
        assert (await _until_completed(second))[-1].payload.result == "You asked me to remember: fig."
        await second.close()
        assert second.terminal_outcome == {"stream_id": second.stream_id, "session_id": session.id, "ended": True,
                                           "outcome": "explicit_close"}
        await subscription.close()
        with pytest.raises(Exception) as unknown:
            await client.subscribe_session_events("0193b1f0-6c2a-7d4e-9a51-2f6e0c9b7d10")
        assert getattr(unknown.value, "code", None) == "-32001"
    finally:
        await client.close()


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_streams_tool_rounds_and_mob_member_events(tmp_path: Path) -> None:
    asyncio.run(_mob(tmp_path))


async def _mob(tmp_path: Path) -> None:
    client = MeerkatClient()

    @client.tool("lookup_order", description="Order status by id",
                 input_schema={"type": "object", "properties": {"order_id": {"type": "string"}}})
    async def lookup_order(arguments: dict[str, Any]) -> str:
        return f"order {arguments.get('order_id')} shipped"

    await client.connect(realm_id="sdk-mob-stream", state_root=str(tmp_path / "state"))
    try:
        session = await client.create_session("hi", model="gpt-5.5")
        async with session.stream("use the lookup_order tool for order_id=7") as stream:
            events = [event async for event in stream]
        assert stream.result.text == "Tool lookup_order returned: order 7 shipped" and stream.result.tool_calls == 1
        requested = next(e for e in events if isinstance(e, ToolCallRequested))
        assert requested.name == "lookup_order" and requested.args == {"order_id": "7"}
        done = next(e for e in events if isinstance(e, ToolExecutionCompleted))
        assert done.id == requested.id and done.content == [{"type": "text", "text": "order 7 shipped"}]
        received = next(e for e in events if isinstance(e, ToolResultReceived))
        assert received.is_error is False
        assert [e.stop_reason for e in events if isinstance(e, TurnCompleted)] == ["tool_use", "end_turn"]

        mob = await client.create_mob(definition=DESK)
        await mob.spawn(profile="editor", agent_identity="editor")
        await mob.spawn(profile="fact", agent_identity="fact")
        everyone = await mob.subscribe_events()
        editor_only = await mob.member("editor").events()
        await mob.member("editor").send("good morning")
        attributed = await _until_completed(everyone)
        assert all(isinstance(a, AttributedEvent) for a in attributed)
        assert {a.source for a in attributed} == {"editor"} and {a.role for a in attributed} == {"editor"}
        assert attributed[-1].envelope.payload.result == "You said: good morning"
        assert {a.envelope.mob_id for a in attributed} == {"newsroom"}
        own = await _until_completed(editor_only)
        assert [type(e.payload) for e in own] == [type(a.envelope.payload) for a in attributed]
        assert [e.seq for e in own] == [a.envelope.seq for a in attributed]
        await editor_only.close()
        await everyone.close()
        assert everyone.terminal_outcome is not None and everyone.terminal_outcome["outcome"] == "explicit_close"

        until_stop = await mob.subscribe_all()
        await mob.lifecycle("stop")
        async with asyncio.timeout(15):
            assert [item async for item in until_stop] == []  # the mob stopped: the stream ends by itself
        assert until_stop.terminal_outcome == {"stream_id": until_stop.stream_id, "ended": True,
                                               "outcome": "remote_end"}
    finally:
        await client.close()


@pytest.mark.usefixtures("paced_server")
def test_upstream_sdk_interrupts_a_streaming_turn(tmp_path: Path) -> None:
    asyncio.run(_interrupt(tmp_path))


async def _interrupt(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk-interrupt", state_root=str(tmp_path / "state"))
    try:
        session = await client.create_session("hi", model="gpt-5.5")
        seen: list[Any] = []
        with pytest.raises(MeerkatError) as cancelled:
            async with asyncio.timeout(15), session.stream("please tell me a long story about the sea") as stream:
                async for event in stream:
                    seen.append(event)
                    if isinstance(event, TextDelta) and len(seen) == 3:
                        await session.interrupt()
        assert cancelled.value.code == "-32005" and cancelled.value.message == "request cancelled"
        assert isinstance(seen[0], RunStarted) and not any(isinstance(e, RunCompleted) for e in seen)
        assert (await client.read_session_history(session.id)).message_count == 2  # nothing committed
    finally:
        await client.close()
