"""Semantic checks of a mob definition that parsed: identifiers, references between profiles,
skills, wiring, members and demo, and models against the catalog (realtime settings need a
realtime model). Every problem is a ``ConfigError`` at the offending key; the first in file
order is raised, the rest are listed in its ``details["other_problems"]``."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mobkat.catalog import Catalog, ModelProfile
from mobkat.errors import (
    ConfigError,
    DefinitionFileRefusedError,
    InvalidInputError,
    PythonToolNotAllowedError,
    UnknownModelError,
)
from mobkat.mob.definition_files import MAX_SKILL_BYTES, FileRefused, read_confined
from mobkat.mob.definition_schema import MemberSpec, MobDocument, Profile, Skill
from mobkat.mob.flow_checks import CheckedFlows, check_flows
from mobkat.mob.trust import ALLOW_TOOLS_FLAG, DefinitionTrust
from mobkat.toml_source import KeyPath, TomlDocument, format_key

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
"""Mob ids, profile, member and skill names: one component of the comms name ``mob/role/member``."""
RESERVED_PREFIX = "__flow_"


@dataclass
class CheckedDefinition:
    """What the checks resolved: the mob id, orchestrator, catalog rows and skill texts."""

    mob_id: str
    orchestrator: str | None
    members: list[MemberSpec]
    models: dict[str, ModelProfile] = field(default_factory=dict)
    skill_texts: dict[str, str] = field(default_factory=dict)
    flows: CheckedFlows = field(default_factory=CheckedFlows)


class _Problems:
    def __init__(self, doc: TomlDocument) -> None:
        self.doc = doc
        self.found: list[ConfigError] = []

    def add(self, path: KeyPath, problem: str, kind: type[ConfigError] = ConfigError) -> ConfigError:
        error = kind(self.doc.path, self.doc.line_of(path), format_key(path), problem)
        self.found.append(error)
        return error

    def raise_first(self) -> None:
        """Raise the first problem in file order, except that a trust refusal (a tool or file the definition
        may not name) comes before every other problem: it is the answer that matters."""
        if not self.found:
            return
        ordered = sorted(enumerate(self.found), key=lambda item: (
            not isinstance(item[1], PythonToolNotAllowedError | DefinitionFileRefusedError),
            item[1].line or float("inf"), item[0]))
        first = ordered[0][1]
        first.details["other_problems"] = [str(other) for _, other in ordered[1:]]
        raise first


def check_definition(
    doc: TomlDocument, raw: MobDocument, catalog: Catalog, base_dir: Path, trust: DefinitionTrust | None = None
) -> CheckedDefinition:
    """Run every semantic check on ``raw`` (validated from ``doc``); raise the first problem. ``trust``
    (default: the operator's) decides which Python tools it may name and which skill files it may read;
    nothing is imported here."""
    trust = trust or DefinitionTrust()
    problems = _Problems(doc)
    mob_id = _mob_id(raw, problems)
    orchestrator, orchestrator_path = _orchestrator(raw, problems)
    if not raw.profiles:
        problems.add(("profiles",), "a mob needs at least one profile: add [profiles.<name>] with a model")
    elif orchestrator is not None and orchestrator not in raw.profiles:
        problems.add(orchestrator_path, _unknown("orchestrator profile", orchestrator, raw.profiles))
    models = {name: _check_profile(name, profile, raw, catalog, problems)
              for name, profile in raw.profiles.items()}
    for name, profile in raw.profiles.items():
        _check_python_tools(name, profile, trust, problems)
    skill_texts = {name: _check_skill(name, skill, base_dir, trust, problems) for name, skill in raw.skills.items()}
    _check_wiring(raw, orchestrator, problems)
    members = _check_members(raw, problems)
    _check_demo(raw, members, models, problems)
    flows = check_flows(raw, problems.add, base_dir, trust)
    problems.raise_first()
    return CheckedDefinition(
        mob_id=mob_id,
        orchestrator=orchestrator,
        members=members,
        models={name: row for name, row in models.items() if row is not None},
        skill_texts={name: text for name, text in skill_texts.items() if text is not None},
        flows=flows,
    )


def check_identifier(what: str, name: str) -> str | None:
    """Why ``name`` is not a valid ``what`` (mob id, profile/member/skill name), or ``None``."""
    if not IDENTIFIER.fullmatch(name):
        return (
            f"invalid {what} {name!r}: start with a letter or '_', then use only letters, digits, "
            "'-' and '_' (it becomes part of the comms name mob/role/member)"
        )
    if name.startswith(RESERVED_PREFIX):
        return f"invalid {what} {name!r}: names starting with {RESERVED_PREFIX!r} are reserved for flows"
    return None


def _identifier(what: str, name: str, path: KeyPath, problems: _Problems) -> None:
    problem = check_identifier(what, name)
    if problem:
        problems.add(path, problem)


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif names:
        hint = " (defined: " + ", ".join(repr(n) for n in names) + ")"
    else:
        hint = ""
    return f"unknown {what} {name!r}{hint}"


def _mob_id(raw: MobDocument, problems: _Problems) -> str:
    table_id = raw.mob.id if raw.mob is not None else None
    if raw.id is not None and table_id is not None:
        top = problems.doc.line_of(("id",))
        where = f"line {top}" if top is not None else "top level"
        problems.add(("mob", "id"), f"the mob id is given twice (top-level id at {where} and here); keep one")
    mob_id = raw.id if raw.id is not None else table_id
    if mob_id is None:
        problems.add(("id",), 'required key is missing: set id = "..." at the top of the file or under [mob]')
        return ""
    _identifier("mob id", mob_id, ("id",) if raw.id is not None else ("mob", "id"), problems)
    return mob_id


def _orchestrator(raw: MobDocument, problems: _Problems) -> tuple[str | None, KeyPath]:
    table_value = raw.mob.orchestrator if raw.mob is not None else None
    if raw.orchestrator is not None and table_value is not None:
        problems.add(("mob", "orchestrator"), "the orchestrator is given twice (top level and [mob]); keep one")
    value = raw.orchestrator if raw.orchestrator is not None else table_value
    base: KeyPath = ("orchestrator",) if raw.orchestrator is not None else ("mob", "orchestrator")
    if value is None:
        return None, base
    written = raw.orchestrator is not None and isinstance(problems.doc.data.get("orchestrator"), dict)
    if raw.orchestrator is None:
        mob_table = problems.doc.data.get("mob")
        written = isinstance(mob_table, dict) and isinstance(mob_table.get("orchestrator"), dict)
    return value.profile, (*base, "profile") if written else base


def _check_profile(
    name: str, profile: Profile, raw: MobDocument, catalog: Catalog, problems: _Problems
) -> ModelProfile | None:
    here: KeyPath = ("profiles", name)
    _identifier("profile name", name, here, problems)
    for index, skill in enumerate(profile.skills):
        if skill not in raw.skills:
            problems.add((*here, "skills", index), _unknown("skill", skill, raw.skills))
    try:
        row = catalog.resolve(profile.model, profile.provider)
    except UnknownModelError:
        ids = [r.id for r in catalog.rows()]
        close = difflib.get_close_matches(profile.model, ids, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? Otherwise " if close else ""
        problems.add(
            (*here, "model"),
            f"unknown model {profile.model!r}: not in the catalog and its provider cannot be inferred "
            f"from the name; {hint}set provider on this profile or declare the model under "
            f'[models."{profile.model}"] in .mobkat/config.toml (run `mobkat models` to see the catalog)',
        )
        return None
    except InvalidInputError as exc:
        problems.add((*here, "provider"), exc.message)
        return None
    if profile.live is not None:
        _check_live(name, profile, row, catalog, problems)
    return row


def _check_live(name: str, profile: Profile, row: ModelProfile, catalog: Catalog, problems: _Problems) -> None:
    assert profile.live is not None
    here: KeyPath = ("profiles", name, "live")
    if not row.capabilities.realtime:
        realtime = [r.id for r in catalog.rows() if r.capabilities.realtime]
        example = f" such as {realtime[0]}" if realtime else ""
        typo = ""
        if row.origin == "inferred":
            close = difflib.get_close_matches(row.id, realtime, n=1, cutoff=0.6)
            typo = f" (it is not in the catalog; did you mean {close[0]!r}?)" if close else ""
        problems.add(
            here,
            f"model {row.id} is not realtime-capable{typo}; remove [profiles.{name}.live] or use a "
            f"realtime model{example}",
        )
        return
    modes = row.capabilities.turn_modes()
    if profile.live.turning_mode not in modes:
        problems.add(
            (*here, "turning_mode"),
            f"model {row.id} does not support turning mode {profile.live.turning_mode!r} "
            f"(it supports: {', '.join(modes)})",
        )


def _check_python_tools(name: str, profile: Profile, trust: DefinitionTrust, problems: _Problems) -> None:
    """Refuse, on the import path's text alone, every tool the definition may not name."""
    for index, spec in enumerate(profile.tools.python):
        if not trust.allows_tool(spec):
            refused = problems.add(("profiles", name, "tools", "python", index), trust.tool_refusal(spec),
                                   PythonToolNotAllowedError)
            refused.details.update(tool=spec, flag=ALLOW_TOOLS_FLAG)


def _check_skill(name: str, skill: Skill, base_dir: Path, trust: DefinitionTrust, problems: _Problems) -> str | None:
    here: KeyPath = ("skills", name)
    _identifier("skill name", name, here, problems)
    if skill.source == "inline":
        if skill.path is not None:
            problems.add((*here, "path"), 'path is only for source = "path"; inline skills take content')
        if skill.content is None:
            problems.add(here, 'source = "inline" needs content = "..." (the skill text)')
        return skill.content
    if skill.content is not None:
        problems.add((*here, "content"), 'content is only for source = "inline"; path skills read a file')
    if skill.path is None:
        problems.add(here, 'source = "path" needs path = "..." (relative to the definition file)')
        return None
    shown = repr(skill.path) if trust.remote else os.path.normpath(base_dir / skill.path)
    try:
        raw = read_confined(skill.path, base=base_dir, root=trust.file_root(base_dir), remote=trust.remote,
                            limit=MAX_SKILL_BYTES)
    except FileRefused as exc:
        kind = DefinitionFileRefusedError if exc.refused else ConfigError
        problems.add((*here, "path"), f"skill file {shown} {exc.problem}", kind)
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        problems.add((*here, "path"), f"skill file {shown} is not valid UTF-8 text")
    return None


def _check_wiring(raw: MobDocument, orchestrator: str | None, problems: _Problems) -> None:
    for name, spec in raw.profiles.items():  # tools.mob_limits.profiles names profiles too
        for index, allowed in enumerate(spec.tools.mob_limits.profiles or []):
            if allowed not in raw.profiles:
                problems.add(("profiles", name, "tools", "mob_limits", "profiles", index),
                             _unknown("profile", allowed, raw.profiles))
    for index, wire in enumerate(raw.wiring.role_wiring):
        for side, profile in (("a", wire.a), ("b", wire.b)):
            if profile not in raw.profiles:
                problems.add(("wiring", "role_wiring", index, side), _unknown("profile", profile, raw.profiles))
    if raw.wiring.auto_wire_orchestrator and orchestrator is None:
        problems.add(
            ("wiring", "auto_wire_orchestrator"),
            'auto_wire_orchestrator = true needs an orchestrator: set orchestrator = "<profile>" '
            "(top level or under [mob])",
        )


def _check_members(raw: MobDocument, problems: _Problems) -> list[MemberSpec]:
    if raw.members is None:
        return [MemberSpec(name=name, profile=name) for name in raw.profiles]
    first_seen: dict[str, int] = {}
    for index, member in enumerate(raw.members):
        here: KeyPath = ("members", index)
        _identifier("member name", member.name, (*here, "name"), problems)
        if member.name in first_seen:
            earlier = first_seen[member.name]
            line = problems.doc.line_of(("members", earlier, "name"))
            where = f"line {line}" if line is not None else f"members[{earlier}]"
            problems.add((*here, "name"), f"duplicate member name {member.name!r} (first defined at {where})")
        else:
            first_seen[member.name] = index
        if member.profile not in raw.profiles:
            problems.add((*here, "profile"), _unknown("profile", member.profile, raw.profiles))
    return list(raw.members)


def _check_demo(
    raw: MobDocument, members: list[MemberSpec], models: dict[str, ModelProfile | None], problems: _Problems
) -> None:
    if raw.demo is None:
        return
    by_name = {member.name: member for member in members}
    member = by_name.get(raw.demo.member)
    if member is None:
        problems.add(("demo", "member"), _unknown("member", raw.demo.member, by_name))
        return
    # a live member hears the lines spoken; any other member gets them as typed input


def live_opens_on_spawn(profile: Profile, row: ModelProfile) -> bool:
    """Effective ``live.open_on_spawn``: as written, else true iff the model is realtime."""
    written = profile.live.open_on_spawn if profile.live is not None else None
    return row.capabilities.realtime if written is None else written and row.capabilities.realtime
