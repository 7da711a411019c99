"""Reading a ``--live-ws`` socket in the SDK tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets


async def until_observation(ws: websockets.ClientConnection, observation: str) -> dict[str, Any]:
    """Read the live socket's observations up to the first ``observation`` (15 s at most)."""
    async with asyncio.timeout(15):
        while True:
            data: dict[str, Any] = json.loads(await ws.recv())
            if data["observation"] == observation:
                return data
