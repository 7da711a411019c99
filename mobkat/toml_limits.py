"""A linear pre-scan that bounds how deeply TOML text nests, before the text reaches ``tomllib`` (whose
time grows with the square of a dotted key's length: 30,000 parts take ~18 s) or the line scanner.

Depth counts the parts of the current ``[table]`` header, the parts of each dotted key, and each level of
arrays and inline tables a value opens. The count may over-estimate by a level (a float's ``.``), never
under-estimate; text the scan cannot follow (an unterminated string) is left to ``tomllib`` to reject.
"""

from __future__ import annotations

import re

from mobkat.errors import ConfigError

MAX_TOML_DEPTH = 64
"""Deepest nesting a TOML file may have (config files and mob definitions need fewer than 10)."""

_TOKEN = re.compile(
    r'''
      """(?:[^"\\]|\\.|"(?!""))*"""(?:"{1,2})?     # multi-line basic string
    | \'\'\'(?:[^']|'(?!''))*\'\'\'(?:'{1,2})?     # multi-line literal string
    | "(?:[^"\\\n]|\\[^\n])*"                       # basic string
    | '[^'\n]*'                                     # literal string
    | \#[^\n]*                                      # comment
    | [\[\]{}.=,\n"']                               # structure (a lone quote: unterminated string)
    ''',
    re.VERBOSE | re.DOTALL,
)


def check_nesting(text: str, path: str, limit: int = MAX_TOML_DEPTH) -> None:
    """Raise a ``ConfigError`` naming ``path`` and the line if ``text`` nests deeper than ``limit`` levels."""
    table = 0  # parts of the current [table] header
    stack: list[int] = []  # open arrays / inline tables: the levels each one adds
    nested = 0  # sum(stack)
    dots = 0  # dots of the key being read
    pending = 0  # parts of the key whose value is being read
    header = False
    line_start = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        char = token[0]
        if len(token) > 1:  # a string or a comment
            continue
        if char in "\"'":
            return  # an unterminated string: tomllib reports it where it starts
        depth = 0
        if char == "\n":
            dots = 0
            pending = 0 if not stack else pending
            line_start = match.end()
        elif char == ".":
            dots += 1
            depth = (0 if header else table) + nested + dots + 1
        elif char == "=":
            pending, dots = dots + 1, 0
        elif char == ",":
            pending = dots = 0
        elif char == "[" and (header or (not stack and not text[line_start:match.start()].strip())):
            header, dots = True, 0  # a [table] or [[array of tables]] header
        elif char == "]" and header:
            table, header, dots = dots + 1, False, 0
        elif char in "[{":
            levels = max(pending, 1)
            stack.append(levels)
            nested += levels
            pending = dots = 0
            depth = table + nested + 1
        elif stack:  # "]" or "}"
            nested -= stack.pop()
            pending = dots = 0
        if depth > limit:
            line = text.count("\n", 0, match.start()) + 1
            raise ConfigError(path, line, "", f"keys and values nest too deeply (more than {limit} levels of "
                                              "dotted keys, [table] headers, arrays and inline tables)")
