"""``mobkat validate FILE``: load and check a mob definition without running it."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from mobkat.catalog import Catalog
from mobkat.config import load_config
from mobkat.errors import ConfigError
from mobkat.mob.definition import MobDefinition


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``validate`` subcommand."""
    parser = subparsers.add_parser(
        "validate",
        help="check a mob definition file",
        description="Check a mob definition (TOML): keys, references, identifiers and models. "
        "Problems are reported as file:line: dotted.key: problem, exit code 1.",
    )
    parser.add_argument("file", help="the mob definition, e.g. mobs/research-team.toml")
    parser.add_argument("--json", action="store_true", help="print a summary and the JSON form of the definition")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load ``args.file`` against the configured catalog; print a one-line summary (or JSON).
    On problems print each (``file:line: key: problem``, first in file order) and return 1."""
    catalog = Catalog.default().with_config(load_config())
    try:
        with warnings.catch_warnings():  # printed below, once each
            warnings.simplefilter("ignore")
            definition = MobDefinition.from_toml(args.file, catalog=catalog)
    except ConfigError as exc:
        for problem in [str(exc), *exc.details.get("other_problems", [])]:
            print(f"mobkat validate: error: {problem}", file=sys.stderr)
        return 1
    for warning in definition.warnings:  # upstream keys mobkat ignores, flow warnings
        print(f"mobkat validate: warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary(definition, args.file), indent=2))
    else:
        print(summary_line(definition, args.file))
    return 0


def summary_line(definition: MobDefinition, file: str) -> str:
    """``FILE: ok — mob 'x', 3 profiles, 4 members, orchestrator 'lead'`` (+ live members)."""
    members = definition.members_to_spawn()
    orchestrator = definition.orchestrator_profile
    parts = [
        f"mob {definition.id!r}",
        _count(len(definition.profiles), "profile"),
        _count(len(members), "member"),
        f"orchestrator {orchestrator!r}" if orchestrator else "no orchestrator",
    ]
    if definition.flows:
        parts.append(_count(len(definition.flows), "flow") + " (" + ", ".join(definition.flows) + ")")
    live = _live_members(definition)
    if live:
        parts.append("live channel on " + ", ".join(repr(name) for name in live))
    return f"{file}: ok — " + ", ".join(parts)


def summary(definition: MobDefinition, file: str) -> dict[str, object]:
    """The ``--json`` output: the summary facts plus the definition's JSON form."""
    return {
        "file": file,
        "ok": True,
        "id": definition.id,
        "orchestrator": definition.orchestrator_profile,
        "members": [m.model_dump(mode="json", exclude_none=True) for m in definition.members_to_spawn()],
        "live_members": _live_members(definition),
        "warnings": definition.warnings,
        "definition": definition.to_json(),
    }


def _live_members(definition: MobDefinition) -> list[str]:
    return [m.name for m in definition.members_to_spawn() if definition.live_settings(m.profile).open_on_spawn]


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
