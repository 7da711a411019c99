"""Mobs: teams of agent members spawned from a :class:`MobDefinition`."""

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
from mobkat.mob.events import EventLog, MobEvent
from mobkat.mob.messages import Envelope
from mobkat.mob.mob import LiveControls, MemberHandle, Mob

__all__ = [
    "JSON_SOURCE",
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
    "ToolsConfig",
    "Wiring",
]
