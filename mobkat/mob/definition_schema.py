"""The shapes of a mob definition file (TOML, or the JSON form of ``mob/create``): pydantic models
with ``extra="forbid"`` and ``strict=True``, so unknown keys and mistyped values are errors that
name ``file:line: dotted.key``. Cross-references are checked in :mod:`mobkat.mob.definition_checks`."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from mobkat.catalog import ProviderName
from mobkat.mob.flow_schema import FlowLimits, FlowSpec
from mobkat.toml_source import describe_value

RuntimeMode = Literal["autonomous_host", "turn_driven"]
TurningMode = Literal["provider_managed", "explicit_commit"]

_PYTHON_TOOL = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)

NonEmpty = Annotated[str, Field(min_length=1)]
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _python_tool_path(value: str) -> str:
    if not _PYTHON_TOOL.fullmatch(value):
        raise ValueError(
            f"expected an import path like \"package.module:function\", got {value!r}"
        )
    return value


PythonToolPath = Annotated[str, AfterValidator(_python_tool_path)]


class MobToolLimits(BaseModel):
    """``[profiles.<name>.tools.mob_limits]``: what a member's mob tools (``tools.mob = true``) may do."""

    model_config = _STRICT

    profiles: list[str] | None = None
    """The profiles it may spawn (unset: every profile of the mob; ``[]``: none)."""
    max_spawned: int = Field(default=4, ge=0)
    """How many members it spawned may be in the roster at once."""


class ToolsConfig(BaseModel):
    """``[profiles.<name>.tools]``: which tools the member gets."""

    model_config = _STRICT

    comms: bool = True
    """Peer messaging tools (``peers``, ``send_message``, ...). ``false``: the member cannot message
    peers and is not routable (upstream refuses to spawn such a member; mobkat allows it)."""
    python: list[PythonToolPath] = Field(default_factory=list)
    """``"package.module:function"`` import paths registered as session tools (imported at spawn)."""
    builtins: bool = False
    shell: bool = False
    memory: bool = False
    mob: bool = False
    """Mob tools (``mob_members``, ``mob_spawn``, ``mob_retire``, ``mob_wire``, ``mob_unwire``) within
    :attr:`mob_limits` (mobkat.mob.mob_tools)."""
    mob_limits: MobToolLimits = Field(default_factory=MobToolLimits)
    schedule: bool = False
    # builtins/shell/memory/schedule: accepted for compatibility with upstream files; no effect yet.


class LiveConfig(BaseModel):
    """``[profiles.<name>.live]``: the member's live channel (realtime models only)."""

    model_config = _STRICT

    open_on_spawn: bool | None = None
    """Open the live channel right after spawn; unset means: yes iff the model is realtime."""
    turning_mode: TurningMode = "provider_managed"
    voice: NonEmpty = "marin"


class LiveSettings(BaseModel):
    """A profile's live settings with ``open_on_spawn`` resolved against the catalog."""

    model_config = ConfigDict(frozen=True)

    open_on_spawn: bool
    turning_mode: TurningMode = "provider_managed"
    voice: str = "marin"


class RestartPolicy(BaseModel):
    """``[profiles.<name>.restart]``: one-for-one restarts, at most ``max_restarts`` per ``within_s``."""

    model_config = _STRICT

    max_restarts: int = Field(default=3, ge=0)
    within_s: Seconds = 60.0


MAX_PLACEMENT_ENTRIES = 32
PlacementKey = Annotated[str, Field(min_length=1, max_length=128)]
PlacementValue = Annotated[str, Field(max_length=256)]
ResourceAmount = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Placement(BaseModel):
    """``[profiles.<name>.placement]``: which Ray nodes may host the role's members (the Ray engine only;
    the in-process engine ignores it). A node qualifies when it has every listed resource (at least the
    amount) and every listed label; members go to the qualifying node hosting the fewest of the mob's
    members. These are filters, not reservations: a member takes no Ray resources."""

    model_config = _STRICT

    resources: dict[PlacementKey, ResourceAmount] = Field(default_factory=dict, max_length=MAX_PLACEMENT_ENTRIES)
    labels: dict[PlacementKey, PlacementValue] = Field(default_factory=dict, max_length=MAX_PLACEMENT_ENTRIES)


class Profile(BaseModel):
    """``[profiles.<name>]``: the template a member is spawned from (its role)."""

    model_config = _STRICT

    model: NonEmpty
    provider: ProviderName | None = None
    peer_description: str = ""
    skills: list[str] = Field(default_factory=list)
    instructions: str = ""
    tools: ToolsConfig = Field(default_factory=ToolsConfig)
    runtime_mode: RuntimeMode = "autonomous_host"
    external_addressable: bool = False
    live: LiveConfig | None = None
    restart: RestartPolicy = Field(default_factory=RestartPolicy)
    placement: Placement = Field(default_factory=Placement)
    output_schema: dict[str, Any] | None = None
    """A JSON schema (an object) every flow step output of this role must match (see docs/flows.md)."""


class Skill(BaseModel):
    """``[skills.<name>]``: ``source = "inline"`` with ``content``, or ``source = "path"`` with
    ``path`` (relative to the definition file's directory)."""

    model_config = _STRICT

    source: Literal["inline", "path"]
    content: str | None = None
    path: NonEmpty | None = None


class RoleWire(BaseModel):
    """One ``[[wiring.role_wiring]]`` entry: members of profile ``a`` and of profile ``b`` are wired."""

    model_config = _STRICT

    a: str
    b: str


class Wiring(BaseModel):
    """``[wiring]``: edges made automatically when members spawn."""

    model_config = _STRICT

    auto_wire_orchestrator: bool = False
    role_wiring: list[RoleWire] = Field(default_factory=list)


class MemberSpec(BaseModel):
    """One ``[[members]]`` entry: a member ``mobkat run`` spawns."""

    model_config = _STRICT

    name: str
    profile: str
    initial_message: str | None = None


class Demo(BaseModel):
    """``[demo]``: what ``mobkat run`` does when it gets no input: speak ``say`` into ``member``'s
    live channel, then wait ``wait_s`` seconds for the mob to settle."""

    model_config = _STRICT

    member: str
    say: list[NonEmpty] = Field(default_factory=list)
    wait_s: Seconds = 20.0


class OrchestratorRef(BaseModel):
    """``orchestrator = { profile = "lead" }`` (the JSON form)."""

    model_config = _STRICT

    profile: str


def _orchestrator_form(value: Any) -> Any:
    if isinstance(value, str):
        return {"profile": value}
    if isinstance(value, dict | OrchestratorRef):
        return value
    raise ValueError(f'expected a profile name or {{ profile = "..." }}, got {describe_value(value)}')


Orchestrator = Annotated[OrchestratorRef, BeforeValidator(_orchestrator_form)]
"""``orchestrator = "lead"`` or ``orchestrator = { profile = "lead" }``; both become an ``OrchestratorRef``."""


class MobTable(BaseModel):
    """``[mob]``: the upstream TOML home of ``id`` and ``orchestrator``."""

    model_config = _STRICT

    id: str | None = None
    orchestrator: Orchestrator | None = None


class MobDocument(BaseModel):
    """A whole definition file as written: ``id``/``orchestrator`` at the top (seed form) or in
    ``[mob]`` (upstream form), plus profiles, skills, wiring, members and demo."""

    model_config = _STRICT

    id: str | None = None
    orchestrator: Orchestrator | None = None
    mob: MobTable | None = None
    profiles: dict[str, Profile] = Field(default_factory=dict)
    skills: dict[str, Skill] = Field(default_factory=dict)
    wiring: Wiring = Field(default_factory=Wiring)
    members: list[MemberSpec] | None = None
    demo: Demo | None = None
    flows: dict[str, FlowSpec] = Field(default_factory=dict)
    limits: FlowLimits | None = None
