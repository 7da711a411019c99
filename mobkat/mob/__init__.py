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

__all__ = [
    "JSON_SOURCE",
    "Demo",
    "LiveConfig",
    "LiveSettings",
    "MemberSpec",
    "MobDefinition",
    "Profile",
    "RestartPolicy",
    "RoleWire",
    "Skill",
    "ToolsConfig",
    "Wiring",
]
