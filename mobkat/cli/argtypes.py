"""argparse value types shared by the subcommands."""

from __future__ import annotations

import argparse


def non_negative(text: str) -> float:
    """A number >= 0 (seconds, pace)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value
