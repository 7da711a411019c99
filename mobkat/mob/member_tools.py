"""The tools a member's session offers: comms (peer tools), member-side mob tools, the profile's Python tools."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mobkat.mob.definition import MobDefinition
from mobkat.mob.inbox_wait import InboxRoom
from mobkat.mob.mob_tools import MobToolRouter, mob_tools
from mobkat.mob.peer_tools import PeerRouter, peer_tools
from mobkat.session import ToolRegistry, make_tool


def member_tools(definition: MobDefinition, profile: str, name: str, supervisor: Any, room: InboxRoom,
                 tool_timeout_s: float, own: Callable[[], Any] | None = None) -> ToolRegistry:
    """``supervisor`` answers ``route``/``peers_of``/… like a pykka proxy (the supervisor's own, or a remote one
    on a Ray node); ``own`` gives the member's own actor proxy where the supervisor cannot (a Ray node)."""
    prof = definition.profile(profile)
    tools = ToolRegistry()
    if prof.tools.comms:
        router = PeerRouter(supervisor, name, room=room, max_wait_s=tool_timeout_s * 0.8, own=own)
        for tool in peer_tools(router):
            tools.add(tool)
    if prof.tools.mob:  # member-side mob tools, within tools.mob_limits (mobkat.mob.mob_tools)
        mob_router = MobToolRouter(supervisor, name, prof.tools.mob_limits, list(definition.profiles))
        for tool in mob_tools(mob_router):
            tools.add(tool)
    for func in definition.python_tools(profile):
        tools.add(make_tool(func))
    return tools


__all__ = ["member_tools"]
