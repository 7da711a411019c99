"""The unmodified upstream SDK interrupts a running turn with ``Session.interrupt`` (``turn/interrupt``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from meerkat import MeerkatClient, MeerkatError

SLOW = "please tell me a long story about a lighthouse keeper and the sea"


@pytest.mark.usefixtures("paced_server")
def test_upstream_sdk_session_interrupt_cancels_the_running_turn(tmp_path: Path) -> None:
    asyncio.run(_drive(tmp_path))


async def _drive(tmp_path: Path) -> None:
    client = MeerkatClient()
    await client.connect(realm_id="sdk", state_root=str(tmp_path / "state"))
    try:
        deferred = await client.create_deferred_session("later", model="gpt-5.5")
        await deferred.interrupt()  # a session that never ran: a no-op (staged_noop)
        session = await client.create_session("hi", model="gpt-5.5")
        turn = asyncio.create_task(session.turn(SLOW))  # ~4 s of paced text
        async with asyncio.timeout(10):  # interrupt until it lands on the running turn (the first may come
            while not turn.done():       # before the server has started it: that one is an idle no-op)
                await session.interrupt()
                await asyncio.wait({turn}, timeout=0.05)
        with pytest.raises(MeerkatError) as cancelled:
            await turn
        assert cancelled.value.code == "-32005" and cancelled.value.message == "request cancelled"
        history = await client.read_session_history(session.id)
        assert history.message_count == 2  # only the first turn: the interrupted one left nothing
        assert (await session.turn("ok")).text == "You said: ok"
        history = await client.read_session_history(session.id)
        assert [m.role for m in history.messages] == ["user", "block_assistant"] * 2
        assert history.messages[2].content == "ok"
        await session.interrupt()  # idle: a no-op success
    finally:
        await client.close()
