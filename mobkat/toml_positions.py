"""Where each key of a TOML text is written: a small scanner from key paths to line numbers."""

from __future__ import annotations

import contextlib
import re
import tomllib
from bisect import bisect_right

KeyPath = tuple[str | int, ...]
"""A key inside a document: table keys are ``str``, array indices ``int`` (pydantic's ``loc``)."""

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _ScanStop(Exception):
    """The scanner met something it does not understand; keep what was found so far."""


def scan_key_lines(text: str) -> dict[KeyPath, int]:
    """Line (1-based) of every key, table and array element written in TOML ``text``. Meant for
    text that parsed; on anything unexpected it stops and returns what it found so far."""
    scanner = _LineScanner(text)
    with contextlib.suppress(_ScanStop, IndexError, ValueError, RecursionError):
        scanner.run()
    return scanner.lines


class _LineScanner:
    """Walks (valid) TOML text and records the line of every key, table and array element."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.lines: dict[KeyPath, int] = {}
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.aot_counts: dict[tuple[str, ...], int] = {}  # array-of-tables path -> elements seen

    def line(self, pos: int) -> int:
        return bisect_right(self.starts, pos)

    def record(self, path: KeyPath, line: int, *, explicit: bool = True) -> None:
        for length in range(1, len(path)):
            self.lines.setdefault(path[:length], line)
        if explicit:
            self.lines[path] = line
        else:
            self.lines.setdefault(path, line)

    def run(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip_blank()
            if self.i >= len(self.s):
                return
            if self.s.startswith("[[", self.i):
                table = self.array_table_header()
            elif self.s[self.i] == "[":
                table = self.table_header()
            else:
                self.key_value(table)
            self.skip_inline_space()
            if self.i < len(self.s) and self.s[self.i] == "#":
                self.skip_comment()

    def table_header(self) -> KeyPath:
        line = self.line(self.i)
        self.i += 1
        keys = self.key()
        self.expect("]")
        path = self.resolve(keys)
        self.record(path, line)
        return path

    def array_table_header(self) -> KeyPath:
        line = self.line(self.i)
        self.i += 2
        keys = self.key()
        self.expect("]]")
        count = self.aot_counts.get(keys, 0) + 1
        self.aot_counts[keys] = count
        for nested in [k for k in self.aot_counts if len(k) > len(keys) and k[: len(keys)] == keys]:
            del self.aot_counts[nested]
        path = (*self.resolve(keys[:-1]), keys[-1])
        self.record(path, line, explicit=False)
        element = (*path, count - 1)
        self.record(element, line)
        return element

    def resolve(self, keys: tuple[str, ...]) -> KeyPath:
        out: list[str | int] = []
        for length in range(1, len(keys) + 1):
            out.append(keys[length - 1])
            count = self.aot_counts.get(keys[:length])
            if count:
                out.append(count - 1)
        return tuple(out)

    def key_value(self, table: KeyPath) -> None:
        line = self.line(self.i)
        keys = self.key()
        self.expect("=")
        path = (*table, *keys)
        self.record(path, line)
        self.value(path)

    def key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self.skip_inline_space()
            char = self.s[self.i]
            if char in "\"'":
                start = self.i
                self.skip_string()
                parts.append(tomllib.loads("k = " + self.s[start : self.i])["k"])
            else:
                bare = BARE_KEY.match(self.s, self.i)
                if not bare:
                    raise _ScanStop
                parts.append(bare.group(0))
                self.i = bare.end()
            self.skip_inline_space()
            if self.s[self.i] != ".":
                return tuple(parts)
            self.i += 1

    def value(self, path: KeyPath) -> None:
        self.skip_inline_space()
        char = self.s[self.i]
        if char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        elif char in "\"'":
            self.skip_string()
        else:
            start = self.i
            while self.i < len(self.s) and self.s[self.i] not in ",]}#\r\n":
                self.i += 1
            if self.i == start:
                raise _ScanStop

    def array(self, path: KeyPath) -> None:
        self.i += 1
        index = 0
        while True:
            self.skip_blank()
            if self.s[self.i] == "]":
                self.i += 1
                return
            element = (*path, index)
            self.record(element, self.line(self.i))
            self.value(element)
            index += 1
            self.skip_blank()
            if self.s[self.i] == ",":
                self.i += 1
            elif self.s[self.i] != "]":
                raise _ScanStop

    def inline_table(self, path: KeyPath) -> None:
        self.i += 1
        while True:
            self.skip_blank()
            if self.s[self.i] == "}":
                self.i += 1
                return
            line = self.line(self.i)
            keys = self.key()
            self.expect("=")
            inner = (*path, *keys)
            self.record(inner, line)
            self.value(inner)
            self.skip_blank()
            if self.s[self.i] == ",":
                self.i += 1
            elif self.s[self.i] != "}":
                raise _ScanStop

    def skip_string(self) -> None:
        s, i = self.s, self.i
        if s.startswith('"""', i) or s.startswith("'''", i):
            quote, j = s[i], i + 3
            while True:
                if quote == '"' and s[j] == "\\":
                    j += 2
                elif s.startswith(quote * 3, j):
                    end = j + 3
                    while end < len(s) and s[end] == quote and end - j < 5:
                        end += 1
                    self.i = end
                    return
                else:
                    j += 1
        quote, j = s[i], i + 1
        while s[j] != quote:
            if s[j] in "\r\n":
                raise _ScanStop
            j += 2 if quote == '"' and s[j] == "\\" else 1
        self.i = j + 1

    def expect(self, token: str) -> None:
        self.skip_inline_space()
        if not self.s.startswith(token, self.i):
            raise _ScanStop
        self.i += len(token)

    def skip_inline_space(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def skip_comment(self) -> None:
        end = self.s.find("\n", self.i)
        self.i = len(self.s) if end < 0 else end

    def skip_blank(self) -> None:
        while self.i < len(self.s):
            char = self.s[self.i]
            if char in " \t\r\n":
                self.i += 1
            elif char == "#":
                self.skip_comment()
            else:
                return
