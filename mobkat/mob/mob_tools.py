"""Member-side mob tools (``tools.mob = true``): a member that spawns, retires and wires other members.

What it may do is bounded by its profile's ``[profiles.<name>.tools.mob_limits]``: which profiles it may
spawn (``profiles``; unset = all) and how many members it spawned may be in the roster at once
(``max_spawned``, default 4). Members it spawns carry the label ``spawned_by = "<its name>"`` (that is
how they are counted, also after a restart) and are wired to it unless it says ``wire_to_me=false``.
It cannot retire itself. Every call goes to the supervisor with a deadline; a refusal is a typed error
the model reads as the tool's result.
"""

from __future__ import annotations

import json
from typing import Any

import pykka

from mobkat.errors import MobToolLimitError, ProfileNotFoundError
from mobkat.mob.definition_schema import MobToolLimits
from mobkat.session.tools import Tool, make_tool

MOB_TOOL_TIMEOUT = 30.0
SPAWNED_BY = "spawned_by"
"""The label naming the member whose ``mob_spawn`` created a member."""


class MobToolRouter:
    """What one member's mob tools call: the supervisor (a shared proxy), within the member's limits."""

    def __init__(self, supervisor: pykka.ActorProxy[Any], member: str, limits: MobToolLimits,
                 profiles: list[str], timeout: float = MOB_TOOL_TIMEOUT) -> None:
        self._supervisor = supervisor
        self.member = member
        self.limits = limits
        self.profiles = profiles
        self.timeout = timeout

    def _ask(self, method: str, *args: Any) -> Any:
        return getattr(self._supervisor, method)(*args).get(timeout=self.timeout)

    def roster(self) -> list[dict[str, Any]]:
        roster: list[dict[str, Any]] = self._ask("roster")
        return roster

    def spawn(self, profile: str, name: str, initial_message: str | None, wire_to_me: bool) -> dict[str, Any]:
        if profile not in self.profiles:
            raise ProfileNotFoundError(f"profile not found: {profile} (profiles: {', '.join(self.profiles)})",
                                       details={"profile": profile})
        allowed = self.limits.profiles
        if allowed is not None and profile not in allowed:
            raise MobToolLimitError(
                f"mob_spawn: {self.member} may not spawn profile {profile!r} (tools.mob_limits.profiles allows: "
                f"{', '.join(allowed) or 'none'})", details={"member": self.member, "profile": profile})
        mine = [m["name"] for m in self.roster() if m["labels"].get(SPAWNED_BY) == self.member]
        if len(mine) >= self.limits.max_spawned:
            raise MobToolLimitError(
                f"mob_spawn: {self.member} already has {len(mine)} spawned member(s) ({', '.join(mine) or 'none'}), "
                f"its limit (tools.mob_limits.max_spawned = {self.limits.max_spawned}); retire one first",
                details={"member": self.member, "spawned": mine, "max_spawned": self.limits.max_spawned})
        view: dict[str, Any] = self._ask("spawn", profile, name, initial_message, 0, None,
                                         {SPAWNED_BY: self.member})
        if wire_to_me and view["name"] not in view["wired_to"]:
            self._ask("wire", self.member, view["name"])
        return view

    def retire(self, name: str) -> bool:
        if name == self.member:
            raise MobToolLimitError(f"mob_retire: {self.member} cannot retire itself",
                                    details={"member": self.member})
        return bool(self._ask("retire", name))

    def wire(self, a: str, b: str, connect: bool) -> bool:
        return bool(self._ask("wire" if connect else "unwire", a, b))


def mob_tools(router: MobToolRouter) -> list[Tool]:
    """``mob_members``, ``mob_spawn``, ``mob_retire``, ``mob_wire`` and ``mob_unwire`` bound to one member."""

    def mob_members() -> str:
        """List the mob's members: name, role, status, who they are wired to, who spawned them."""
        return json.dumps([{"name": m["name"], "role": m["role"], "status": m["status"], "wired_to": m["wired_to"],
                            SPAWNED_BY: m["labels"].get(SPAWNED_BY)} for m in router.roster()])

    def mob_spawn(profile: str, name: str, initial_message: str | None = None, wire_to_me: bool = True) -> str:
        """Spawn a new member from a profile (wired to you unless wire_to_me is false)."""
        view = router.spawn(profile, name, initial_message, wire_to_me)
        return f"spawned {view['name']} (profile {profile}); wired to: {', '.join(view['wired_to']) or 'nobody'}"

    def mob_retire(name: str) -> str:
        """Retire a member: it stops and leaves the roster."""
        return f"retired {name}" if router.retire(name) else f"{name} was not a member (nothing to retire)"

    def mob_wire(a: str, b: str) -> str:
        """Wire two members so that they can message each other."""
        return f"wired {a} and {b}" if router.wire(a, b, True) else f"{a} and {b} were already wired"

    def mob_unwire(a: str, b: str) -> str:
        """Unwire two members."""
        return f"unwired {a} and {b}" if router.wire(a, b, False) else f"{a} and {b} were not wired"

    return [make_tool(f) for f in (mob_members, mob_spawn, mob_retire, mob_wire, mob_unwire)]


__all__ = ["SPAWNED_BY", "MobToolRouter", "mob_tools"]
