"""The upstream Meerkat SDK's callback tools (``@client.tool``; meerkat-sdk 0.8.26, unmodified) on ``mobkat-rpc``.

Declared before ``connect()`` they travel in ``tools/register`` (a failure would abort ``connect()``);
the simulated model calls a registered tool the user names, the server asks the SDK with
``tool/execute`` and the SDK's handler answers: in request/response turns and in live turns.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets
from meerkat import MeerkatClient

from tests.client.live_socket import until_observation

ORDERS = {"42": "shipped", "7": "packing"}


def _client() -> MeerkatClient:
    client = MeerkatClient()

    @client.tool("lookup_order", description="The status of an order",
                 input_schema={"type": "object", "properties": {"order_id": {"type": "string"}},
                               "required": ["order_id"]})
    async def lookup_order(arguments: dict[str, Any]) -> str:
        return f"order {arguments['order_id']}: {ORDERS[arguments['order_id']]}"

    return client


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_callback_tools_in_request_response_turns(tmp_path: Path) -> None:
    asyncio.run(_turns(tmp_path))


async def _turns(tmp_path: Path) -> None:
    client = _client()
    await client.connect(realm_id="sdk-tools", state_root=str(tmp_path / "state"))
    try:
        session = await client.create_session("use the lookup_order tool for order_id=42", model="gpt-5.5")
        assert session.text == "Tool lookup_order returned: order 42: shipped" and session.tool_calls == 1
        failed = await session.turn("use the lookup_order tool for order_id=99")  # the handler raises KeyError
        assert failed.text == "Tool lookup_order returned: Tool error: '99'" and failed.tool_calls == 1
        rows = (await client.read_session_history(session.id)).messages
        results = [r for row in rows if row.role == "tool_results" for r in row.results]
        assert [(r.content, r.is_error) for r in results] == [("order 42: shipped", False), ("Tool error: '99'", True)]

        @client.tool("weather", description="Weather for a city")  # after connect: a detached tools/register
        async def weather(arguments: dict[str, Any]) -> str:
            return f"sunny in {arguments.get('city', 'nowhere')}"

        async with asyncio.timeout(15):
            while (turn := await session.turn("call weather city=Oslo")).tool_calls == 0:
                await asyncio.sleep(0.05)  # the registration is in flight; the deadline bounds the wait
        assert turn.text == "Tool weather returned: sunny in Oslo"
        assert not client._tool_registration_errors  # the SDK records failed registrations here
        plain = await client.create_session("no tools named here", model="gpt-5.5")
        assert plain.text == "You said: no tools named here" and plain.tool_calls == 0
    finally:
        await client.close()


@pytest.mark.usefixtures("sdk_env")
def test_upstream_sdk_callback_tools_in_live_turns(tmp_path: Path) -> None:
    asyncio.run(_live(tmp_path))


async def _live(tmp_path: Path) -> None:
    client = _client()
    await client.connect(live_ws=True, realm_id="sdk-live-tools", state_root=str(tmp_path / "state"))
    try:
        session = await client.create_session("hello", model="gpt-realtime-2")
        opened = await client.live_open(session.id)
        async with websockets.connect(opened["transport"]["url"]) as ws:
            await client.live_send_input_text(opened["channel_id"], "use the lookup_order tool for order_id=7")
            assert (await until_observation(ws, "turn_completed"))["stop_reason"] == "end_turn"
            await client.live_close(opened["channel_id"])
        rows = (await client.read_session_history(session.id)).messages
        results = [r for row in rows if row.role == "tool_results" for r in row.results]
        assert [(r.content, r.is_error) for r in results] == [("order 7: packing", False)]
        assert rows[-1].blocks[0].text == "Tool lookup_order returned: order 7: packing"
    finally:
        await client.close()
