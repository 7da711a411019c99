"""Mobs: teams of agent members spawned from a :class:`MobDefinition`."""

import importlib
from typing import TYPE_CHECKING, Any

from mobkat.mob.definition import JSON_SOURCE, MobDefinition
from mobkat.mob.definition_schema import (
    Demo,
    LiveConfig,
    LiveSettings,
    MemberSpec,
    Profile,
    RestartPolicy,
    RoleWire,
    Skill,
    ToolsConfig,
    Wiring,
)
from mobkat.mob.trust import DefinitionTrust, ToolAllowList

if TYPE_CHECKING:
    from mobkat.mob.events import EventLog, MobEvent
    from mobkat.mob.member_handle import LiveControls, MemberHandle
    from mobkat.mob.messages import Envelope
    from mobkat.mob.mob import Mob

_RUNTIME = {"EventLog": "events", "MobEvent": "events", "Envelope": "messages", "LiveControls": "member_handle",
            "MemberHandle": "member_handle", "Mob": "mob"}


def __getattr__(name: str) -> Any:
    """The runtime (actors, the openai SDK) loads on first use, so reading a definition stays light."""
    module = _RUNTIME.get(name)
    if module is None:
        raise AttributeError(f"module 'mobkat.mob' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mobkat.mob.{module}"), name)

__all__ = [
    "JSON_SOURCE",
    "DefinitionTrust",
    "Demo",
    "Envelope",
    "EventLog",
    "LiveConfig",
    "LiveControls",
    "LiveSettings",
    "MemberHandle",
    "MemberSpec",
    "Mob",
    "MobDefinition",
    "MobEvent",
    "Profile",
    "RestartPolicy",
    "RoleWire",
    "Skill",
    "ToolAllowList",
    "ToolsConfig",
    "Wiring",
]
