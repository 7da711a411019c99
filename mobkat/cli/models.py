"""``mobkat models``: print the model catalog (curated rows plus custom models from config)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from mobkat.catalog import PROVIDERS, Catalog, ModelProfile
from mobkat.config import MobkatConfig, load_config

_COLUMNS = ("MODEL", "PROVIDER", "NAME", "TIER", "CONTEXT", "OUTPUT", "REALTIME", "TURN MODES")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` subcommand."""
    parser = subparsers.add_parser(
        "models",
        help="list the model catalog",
        description="List the model catalog: curated models plus custom [models.<id>] from config.",
    )
    parser.add_argument("--json", action="store_true", help="print the models/catalog wire result")
    parser.add_argument("--provider", choices=PROVIDERS, help="only this provider's models")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the catalog as a table, or as ``models/catalog`` JSON with ``--json``."""
    config = load_config()
    catalog = Catalog.default().with_config(config)
    if args.json:
        print(json.dumps(catalog.to_wire(args.provider), indent=2))
    else:
        print(render_table(catalog, config, args.provider))
    return 0


def render_table(catalog: Catalog, config: MobkatConfig, provider: str | None = None) -> str:
    """The catalog as an aligned text table, provider defaults marked ``*``, plus a footer."""
    defaults = {catalog.default_model(name) for name in catalog.providers()}
    rows = [_cells(row, row.id in defaults) for row in catalog.rows(provider)]
    lines = _align([_COLUMNS, *rows])
    default = catalog.default_model()
    source = config.source_of("default_model")
    origin = f"set in {source}" if source is not None else "built-in"
    lines += ["", "* provider default", f"default model: {default} ({origin})"]
    return "\n".join(lines)


def _cells(row: ModelProfile, is_default: bool) -> tuple[str, ...]:
    caps = row.capabilities
    return (
        row.id + (" *" if is_default else ""),
        row.provider,
        row.display_name,
        row.tier + (" (custom)" if row.origin == "custom" else ""),
        _tokens(caps.context_window),
        _tokens(caps.max_output_tokens),
        "yes" if caps.realtime else "no",
        ", ".join(caps.turn_modes()) or "-",
    )


def _tokens(count: int | None) -> str:
    return "-" if count is None else f"{count:,}"


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    numeric = {_COLUMNS.index("CONTEXT"), _COLUMNS.index("OUTPUT")}
    widths = [max(len(row[col]) for row in rows) for col in range(len(_COLUMNS))]
    def fit(col: int, cell: str) -> str:
        return cell.rjust(widths[col]) if col in numeric else cell.ljust(widths[col])

    return ["  ".join(fit(col, cell) for col, cell in enumerate(row)).rstrip() for row in rows]
