"""``mobkat run FILE``: run a mob definition."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run a mob defined in a TOML file")
    parser.add_argument("file", help="the mob definition, e.g. mobs/live-demo.toml")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(f"mobkat run {args.file}: mobs are not available in this build yet "
          "(the mob runtime lands with the mob issue); try `mobkat models` or `mobkat simulator`",
          file=sys.stderr)
    return 2
