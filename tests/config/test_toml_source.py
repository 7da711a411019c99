"""TOML documents with positions: line_of, syntax errors, and validation errors as ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from mobkat.errors import ConfigError
from mobkat.toml_source import (
    TomlDocument,
    format_key,
    load_toml,
    parse_key,
    parse_toml,
    validate_document,
)

DOC = """\
# a comment with fake = "key"
title = "x"   # trailing comment

[server]
host = "h"
"dotted.name" = 1
a.b.c = true
list = [
  1,
  { inner = 2, deeper = { z = 3 } },
  \"\"\"multi
line with [brackets] and key = "value\"\"\",
]
inline = { x = 1 }

[[members]]
name = "one"
[[members.tools]]
name = "t0"
[[members.tools]]
name = "t1"

[[members]]
name = "two"
[[members.tools]]
name = "u0"
[members.meta]
k = 'literal'

[models."gpt-5.5"]
provider = "openai"
"""


def line(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(n for n, content in enumerate(text.splitlines(), start=1) if needle in content)


@pytest.fixture()
def doc() -> TomlDocument:
    return parse_toml(DOC, "defs/mob.toml")


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        (("title",), 'title = "x"'),
        (("server",), "[server]"),
        (("server", "host"), 'host = "h"'),
        (("server", "dotted.name"), '"dotted.name"'),
        (("server", "a"), "a.b.c"),
        (("server", "a", "b", "c"), "a.b.c"),
        (("server", "list"), "list = ["),
        (("server", "list", 0), "  1,"),
        (("server", "list", 1), "inner = 2"),
        (("server", "list", 1, "deeper", "z"), "inner = 2"),
        (("server", "list", 2), '"""multi'),
        (("server", "inline"), "inline = {"),
        (("server", "inline", "x"), "inline = {"),
        (("members",), "[[members]]"),
        (("members", 0, "name"), 'name = "one"'),
        (("members", 0, "tools", 1, "name"), 'name = "t1"'),
        (("members", 1, "name"), 'name = "two"'),
        (("members", 1, "tools", 0, "name"), 'name = "u0"'),
        (("members", 1, "meta", "k"), "k = 'literal'"),
        (("models", "gpt-5.5", "provider"), 'provider = "openai"'),
    ],
)
def test_line_of_finds_each_kind_of_key(doc: TomlDocument, path: tuple[str | int, ...], needle: str) -> None:
    assert doc.line_of(path) == line(DOC, needle)


def test_line_of_counts_array_of_tables_elements_per_parent(doc: TomlDocument) -> None:
    numbered = list(enumerate(DOC.splitlines(), start=1))
    members = [n for n, content in numbered if content == "[[members]]"]
    tools = [n for n, content in numbered if content == "[[members.tools]]"]
    assert doc.line_of(("members", 1)) == members[1]
    assert doc.line_of(("members", 0, "tools", 1)) == tools[1]
    assert doc.line_of(("members", 1, "tools", 0)) == tools[2]


def test_line_of_absent_key_falls_back_to_its_table(doc: TomlDocument) -> None:
    assert doc.line_of(("models", "gpt-5.5", "missing")) == line(DOC, '[models."gpt-5.5"]')
    assert doc.line_of(("nothing", "here")) is None
    assert doc.line_of(()) is None


def test_line_of_without_text_is_none() -> None:
    assert TomlDocument(path="<arguments>", data={"a": 1}).line_of(("a",)) is None


def test_error_formats_file_line_and_dotted_key(doc: TomlDocument) -> None:
    error = doc.error(("members", 1, "tools", 0, "name"), "no such tool")
    assert str(error) == f"defs/mob.toml:{line(DOC, 'u0')}: members[1].tools[0].name: no such tool"
    assert (error.file, error.key) == ("defs/mob.toml", "members[1].tools[0].name")


@pytest.mark.parametrize(
    ("text", "expected_line", "fragment"),
    [
        ("a = 1\nb = \n", 2, "invalid value"),
        ("[t]\nx = 1\n\n[t]\n", 4, "cannot declare t twice"),
        ('ok = 1\ns = "unterminated\n', 2, "illegal character"),
        ("x = [1,\n", 1, "at end of file"),
    ],
)
def test_syntax_error_names_file_and_line(text: str, expected_line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_toml(text, "conf/x.toml")
    assert caught.value.line == expected_line
    assert str(caught.value).startswith(f"conf/x.toml:{expected_line}: TOML syntax error: ")
    assert fragment in str(caught.value)


def test_load_toml_reports_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the file"):
        load_toml(tmp_path)  # a directory
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'a = "ok"\nb = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_toml(bad)
    assert (caught.value.file, caught.value.line) == (str(bad), 2)


class Tool(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    timeout_secs: int = 30


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    role: Literal["host", "guest"]
    tools: list[Tool] = []


class Mob(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    id: str
    members: dict[str, Member] = {}
    settings: Tool | Member | None = None


def test_validate_document_reports_first_problem_in_file_order() -> None:
    text = 'id = "m"\n[members.a]\nrole = "hots"\n[[members.a.tools]]\nname = "x"\ntimeuot_secs = 5\n'
    with pytest.raises(ConfigError) as caught:
        validate_document(Mob, parse_toml(text, "mob.toml"))
    error = caught.value
    assert str(error) == (
        "mob.toml:3: members.a.role: expected one of 'host' or 'guest', got string 'hots'"
    )
    assert error.details["other_problems"] == [
        "mob.toml:6: members.a.tools[0].timeuot_secs: "
        "unknown key 'timeuot_secs' (did you mean 'timeout_secs'?)"
    ]


def test_validate_document_drops_union_tags_from_the_key() -> None:
    text = 'id = "m"\n\n[settings]\nname = 5\n'
    with pytest.raises(ConfigError) as caught:
        validate_document(Mob, parse_toml(text, "mob.toml"))
    everything = [str(caught.value), *caught.value.details["other_problems"]]
    assert "mob.toml:4: settings.name: expected a string, got integer 5" in everything
    assert not [message for message in everything if "Tool" in message or "Member" in message]


def test_validate_document_missing_key_points_at_its_table() -> None:
    text = 'id = "m"\n\n[members.b]\ntools = []\n'
    with pytest.raises(ConfigError) as caught:
        validate_document(Mob, parse_toml(text, "mob.toml"))
    assert str(caught.value) == "mob.toml:3: members.b.role: required key is missing"


def test_validate_document_success_returns_the_model() -> None:
    mob = validate_document(Mob, parse_toml('id = "m"\n[members.a]\nrole = "host"\n', "mob.toml"))
    assert mob.members["a"].role == "host"


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4))
def test_format_key_round_trips_through_parse_key(parts: list[str]) -> None:
    assert parse_key(format_key(parts)) == tuple(parts)


def test_parse_key_rejects_non_keys() -> None:
    with pytest.raises(ValueError, match="not a TOML dotted key"):
        parse_key("a..b")


# ---- property: line_of agrees with where a generated document wrote each key

TRICKY_VALUES = [
    '"""a\n[not.a.table]\nkey = 1"""',
    "'''x # not a comment\n]'''",
    '"quote \\" and # hash"',
    "[\n  1,\n  [2, 3],\n]",
    "{ a = 1, b.c = [1, 2] }",
    "1979-05-27T07:32:00Z",
    "-inf",
    "0x1F",
]


def toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch.isprintable() else f"\\U{ord(ch):08x}" for ch in escaped) + '"'


keys = st.text(min_size=1, max_size=6)
values = st.one_of(
    st.integers().map(str),
    st.booleans().map(lambda flag: str(flag).lower()),
    st.text(max_size=10).map(toml_string),
    st.sampled_from(TRICKY_VALUES),
)


@given(
    st.dictionaries(
        keys, st.dictionaries(keys, st.tuples(values, st.sampled_from(["", "  # note"]), st.booleans()))
    )
)
def test_line_of_matches_generated_documents(tables: dict[str, dict[str, tuple[str, str, bool]]]) -> None:
    lines: list[str] = ["# generated"]
    expected: dict[tuple[str, ...], int] = {}
    for table, entries in tables.items():
        lines.append("")
        lines.append(f"[{format_key([table])}]")
        expected[(table,)] = len(lines)
        for key, (value, comment, blank_before) in entries.items():
            if blank_before:
                lines.append("")
            lines.append(f"{format_key([key])} = {value}{comment}")
            expected[(table, key)] = len(lines)
            lines[-1:] = lines[-1].split("\n")  # multi-line values occupy several lines
    doc = parse_toml("\n".join(lines) + "\n", "gen.toml")
    assert set(doc.data) == set(tables)
    for path, line_number in expected.items():
        assert doc.line_of(path) == line_number, path
