"""Entry points: ``mobkat`` (subcommands) and ``mobkat-rpc``.

Each subcommand lives in its own module under ``mobkat.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mobkat import __version__
from mobkat.errors import MobkatError

COMMAND_MODULES = ("models", "simulator", "run", "validate", "history", "rpc", "mob", "console")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mobkat", description="Teams of LLM agents, live.")
    parser.add_argument("--version", action="version", version=f"mobkat {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"mobkat.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = args.func(args)
    except MobkatError as exc:
        print(f"mobkat {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `mobkat run ... | head`: the reader left; exit quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return code


def rpc_main(argv: Sequence[str] | None = None) -> int:
    """``mobkat-rpc``: the JSON-RPC server, same as ``mobkat rpc``."""
    return main(["rpc", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
