"""``MobDefinition``: a mob's profiles, skills, wiring and members, loaded from TOML (the seed's
top-level ``id`` form or upstream's ``[mob]`` form) or from the JSON form of ``mob/create``.
Every problem is a :class:`~mobkat.errors.ConfigError` naming ``file:line: dotted.key``."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from mobkat.catalog import Catalog, ModelProfile
from mobkat.errors import (
    ConfigError,
    DefinitionFileRefusedError,
    InvalidInputError,
    PythonToolNotAllowedError,
    ToolError,
)
from mobkat.mob.definition_checks import check_definition, live_opens_on_spawn
from mobkat.mob.definition_files import MAX_DEFINITION_BYTES, FileRefused, confine, read_bounded
from mobkat.mob.definition_schema import (
    Demo,
    LiveSettings,
    MemberSpec,
    MobDocument,
    Profile,
    Skill,
    Wiring,
)
from mobkat.mob.flow_schema import FlowLimits, FlowSpec
from mobkat.mob.trust import ALLOW_TOOLS_FLAG, DefinitionTrust
from mobkat.mob.upstream_keys import strip_upstream_keys
from mobkat.toml_source import TomlDocument, format_key, parse_toml_bytes, validate_document

JSON_SOURCE = "<json>"
"""The "file" named by errors in a definition given as JSON (``MobDefinition.from_dict``)."""


class MobDefinition(BaseModel):
    """A checked mob definition: every reference resolves and every model is in the catalog."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    orchestrator: str | None = None
    profiles: dict[str, Profile]
    skills: dict[str, Skill] = Field(default_factory=dict)
    wiring: Wiring = Field(default_factory=Wiring)
    members: list[MemberSpec] | None = None
    """As written; ``None`` means one member per profile (see :meth:`members_to_spawn`)."""
    demo: Demo | None = None
    flows: dict[str, FlowSpec] = Field(default_factory=dict)
    """``[flows.<flow_id>]`` in authoring order (see docs/flows.md)."""
    limits: FlowLimits | None = None

    _source_path: str = PrivateAttr(default=JSON_SOURCE)
    _base_dir: Path = PrivateAttr(default_factory=Path)
    _models: dict[str, ModelProfile] = PrivateAttr(default_factory=dict)
    _skill_texts: dict[str, str] = PrivateAttr(default_factory=dict)
    _spawn: list[MemberSpec] = PrivateAttr(default_factory=list)
    _trust: DefinitionTrust = PrivateAttr(default_factory=DefinitionTrust)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _step_schemas: dict[tuple[str, str], dict[str, Any]] = PrivateAttr(default_factory=dict)

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_toml(
        cls, path: str | os.PathLike[str], *, catalog: Catalog | None = None, trust: DefinitionTrust | None = None
    ) -> MobDefinition:
        """Load the TOML file at ``path`` (a regular file of at most 1 MiB). Skill paths are relative to
        its directory. ``catalog`` defaults to the curated catalog (pass
        ``Catalog.default().with_config(load_config())`` to honour custom models from config). ``trust``
        defaults to the operator's (any Python tool; skill files inside the file's directory); with
        ``DefinitionTrust.from_client(...)`` the file itself must lie inside its root, relative paths
        being relative to that root (``mob/create {path}``)."""
        trust = trust or DefinitionTrust()
        shown = os.fspath(path)
        try:
            if trust.remote:
                found = confine(shown, base=trust.files_root or Path(), root=trust.files_root, remote=True)
                base_dir = Path(found).parent
            else:
                found, base_dir = shown, Path(path).parent
            raw = read_bounded(found, limit=MAX_DEFINITION_BYTES)
        except FileRefused as exc:
            kind = DefinitionFileRefusedError if exc.refused else ConfigError
            raise kind(shown, None, "", f"cannot read the file: {exc.problem}") from None
        return cls._load(parse_toml_bytes(raw, shown), base_dir, catalog, trust)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        source: str = JSON_SOURCE,
        base_dir: str | os.PathLike[str] | None = None,
        catalog: Catalog | None = None,
        trust: DefinitionTrust | None = None,
    ) -> MobDefinition:
        """Load the JSON form (same keys as the TOML; ``id`` at the top level). Errors name
        ``source`` and the dotted key (no line). Skill paths are relative to ``base_dir`` (default:
        the trusted root of ``trust``, else the current directory); ``trust`` as in :meth:`from_toml`."""
        if not isinstance(data, Mapping):
            raise ConfigError(source, None, "", f"expected a JSON object, got {type(data).__name__}")
        trust = trust or DefinitionTrust()
        doc = TomlDocument(path=source, data=dict(data))
        if base_dir is None:
            base_dir = trust.files_root if trust.files_root is not None else Path()
        return cls._load(doc, Path(base_dir), catalog, trust)

    @classmethod
    def _load(cls, doc: TomlDocument, base_dir: Path, catalog: Catalog | None, trust: DefinitionTrust) -> MobDefinition:
        doc, warned = strip_upstream_keys(doc)  # upstream-only keys: a warning each, then ignored
        raw = validate_document(MobDocument, doc)
        checked = check_definition(doc, raw, catalog or Catalog.default(), base_dir, trust)
        warned += [str(doc.error(path, problem)) for path, problem in checked.flows.warnings]
        definition = cls(
            id=checked.mob_id,
            orchestrator=checked.orchestrator,
            profiles=raw.profiles,
            skills=raw.skills,
            wiring=raw.wiring,
            members=raw.members,
            demo=raw.demo,
            flows=raw.flows,
            limits=raw.limits,
        )
        definition._warnings = warned
        definition._step_schemas = checked.flows.schemas
        definition._source_path = doc.path
        definition._base_dir = base_dir
        definition._models = checked.models
        definition._skill_texts = checked.skill_texts
        definition._spawn = checked.members
        definition._trust = trust
        return definition

    # ------------------------------------------------------------------ queries

    @property
    def source_path(self) -> str:
        """The file the definition came from, as given (``<json>`` for the JSON form)."""
        return self._source_path

    @property
    def base_dir(self) -> Path:
        """The directory skill paths are relative to."""
        return self._base_dir

    @property
    def trust(self) -> DefinitionTrust:
        """What the definition may reach (the operator's own, or a client's: see :class:`DefinitionTrust`)."""
        return self._trust

    @property
    def warnings(self) -> list[str]:
        """``file:line: key: problem`` for each upstream key that was ignored and each flow warning."""
        return list(self._warnings)

    def step_schema(self, flow_id: str, step_id: str) -> dict[str, Any] | None:
        """The JSON schema a step's output must match: its ``expected_schema_ref``, else its role's
        ``output_schema``, else ``None``."""
        return self._step_schemas.get((flow_id, step_id))

    @property
    def orchestrator_profile(self) -> str | None:
        """The orchestrator's profile name, if the mob has one."""
        return self.orchestrator

    def members_to_spawn(self) -> list[MemberSpec]:
        """The members ``mobkat run`` spawns: ``[[members]]`` in file order, else one per profile
        named after it."""
        return list(self._spawn)

    def profile(self, name: str) -> Profile:
        """The profile ``name``; ``InvalidInputError`` naming the defined ones if there is none."""
        found = self.profiles.get(name)
        if found is None:
            known = ", ".join(repr(n) for n in self.profiles)
            raise InvalidInputError(
                f"mob {self.id!r} has no profile {name!r} (profiles: {known})",
                details={"mob_id": self.id, "profile": name},
            )
        return found

    def model_profile(self, profile_name: str) -> ModelProfile:
        """The catalog row of the profile's model (``.capabilities.realtime`` etc.)."""
        self.profile(profile_name)
        return self._models[profile_name]

    def system_prompt(self, profile_name: str) -> str:
        """``instructions``, then the profile's skill texts in order, joined by blank lines."""
        profile = self.profile(profile_name)
        parts = [profile.instructions, *(self._skill_texts[name] for name in profile.skills)]
        return "\n\n".join(part.strip() for part in parts if part.strip())

    def live_settings(self, profile_name: str) -> LiveSettings:
        """The profile's live settings; ``open_on_spawn`` resolved (default: the model is realtime)."""
        profile = self.profile(profile_name)
        opens = live_opens_on_spawn(profile, self._models[profile_name])
        if profile.live is None:
            return LiveSettings(open_on_spawn=opens)
        return LiveSettings(open_on_spawn=opens, turning_mode=profile.live.turning_mode, voice=profile.live.voice)

    def python_tools(self, profile_name: str) -> list[Callable[..., Any]]:
        """Import the profile's ``tools.python`` functions (``ToolError`` naming the key on failure).
        A definition a client sent imports only what the operator allowed (checked again here, before
        the import; ``PythonToolNotAllowedError`` otherwise)."""
        profile = self.profile(profile_name)
        tools: list[Callable[..., Any]] = []
        for index, spec in enumerate(profile.tools.python):
            key = format_key(("profiles", profile_name, "tools", "python", index))
            if not self._trust.allows_tool(spec):
                raise self._tool_refused(spec, key)
            func = _import_function(spec, key)
            if not self._trust.admits_tool(spec, func):
                raise self._tool_refused(spec, key, why=f" ({spec.partition(':')[2]} is not defined in the "
                                                       "allowed module itself)")
            tools.append(func)
        return tools

    def _tool_refused(self, spec: str, key: str, why: str = "") -> PythonToolNotAllowedError:
        refused = PythonToolNotAllowedError(self._source_path, None, key, self._trust.tool_refusal(spec) + why)
        refused.details.update(tool=spec, flag=ALLOW_TOOLS_FLAG)
        return refused

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``mob/create``); ``from_dict(to_json(), base_dir=base_dir)`` loads the
        same definition. Skill paths stay as written (relative to :attr:`base_dir`)."""
        out: dict[str, Any] = {"id": self.id}
        if self.orchestrator is not None:
            out["orchestrator"] = {"profile": self.orchestrator}
        out["profiles"] = {
            name: profile.model_dump(mode="json", exclude_none=True) for name, profile in self.profiles.items()
        }
        out["skills"] = {
            name: skill.model_dump(mode="json", exclude_none=True) for name, skill in self.skills.items()
        }
        out["wiring"] = self.wiring.model_dump(mode="json")
        if self.members is not None:
            out["members"] = [member.model_dump(mode="json", exclude_none=True) for member in self.members]
        if self.demo is not None:
            out["demo"] = self.demo.model_dump(mode="json")
        if self.flows:
            out["flows"] = {name: flow.model_dump(mode="json") for name, flow in self.flows.items()}  # keeps value=null
        if self.limits is not None:
            out["limits"] = self.limits.model_dump(mode="json", exclude_none=True)
        return out


def _import_function(spec: str, key: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ToolError(f"{key}: cannot import {spec!r}: {exc}", details={"key": key, "spec": spec}) from None
    except AttributeError:
        raise ToolError(
            f"{key}: module {module_name!r} has no {attribute!r}", details={"key": key, "spec": spec}
        ) from None
    if not callable(target):
        raise ToolError(f"{key}: {spec!r} is not callable", details={"key": key, "spec": spec})
    return target  # type: ignore[no-any-return]
