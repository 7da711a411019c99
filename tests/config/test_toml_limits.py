"""TOML nesting is bounded before ``tomllib`` sees the text (issue #10, attack 11)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobkat.errors import ConfigError
from mobkat.toml_limits import MAX_TOML_DEPTH, check_nesting
from mobkat.toml_source import load_toml, parse_toml


def dotted(parts: int) -> str:
    return ".".join(["a"] * parts)


def test_a_30000_part_dotted_key_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text('title = "x"\n\n' + dotted(30_000) + " = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_toml(path)
    assert (caught.value.file, caught.value.line, caught.value.key) == (str(path), 3, "")
    assert str(caught.value) == (f"{path}:3: keys and values nest too deeply (more than 64 levels of dotted keys, "
                                 "[table] headers, arrays and inline tables)")


def nested(form: str, depth: int) -> str:
    """TOML text whose deepest value sits ``depth`` levels down, written in one of five ways."""
    if form == "dotted key":
        return dotted(depth) + " = 1\n"
    if form == "header":
        return f"[{dotted(depth)}]\n"
    if form == "header and key":
        half = depth // 2
        return f"[{dotted(half)}]\n{dotted(depth - half)} = 1\n" if half else f"{dotted(depth)} = 1\n"
    if form == "inline tables":
        return "x = " + "{a = " * (depth - 1) + "1" + "}" * (depth - 1) + "\n"
    return "x = " + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "\n"  # arrays


FORMS = ["dotted key", "header", "header and key", "inline tables", "arrays"]


@given(form=st.sampled_from(FORMS), depth=st.integers(min_value=1, max_value=2 * MAX_TOML_DEPTH))
def test_text_is_refused_exactly_when_it_nests_deeper_than_the_limit(form: str, depth: int) -> None:
    text = nested(form, depth)
    if depth > MAX_TOML_DEPTH:
        with pytest.raises(ConfigError, match="nest too deeply"):
            parse_toml(text, "t.toml")
    else:
        assert parse_toml(text, "t.toml").data == tomllib.loads(text)


@pytest.mark.parametrize("text", [
    'note = "' + "a." * 10_000 + '"\n',  # dots inside strings are not keys
    "# " + "a." * 10_000 + "\n[t]\nk = 1\n",
    "s = '''\n" + "[x.y]" * 1_000 + "\n'''\n",
    's = """' + '\\"' + "{[" * 1_000 + '"""\n',
    "k = [\n" + "  1.5,\n" * 1_000 + "]\n",  # floats, one element per line
    '"' + "a." * 100 + '".b = 1\n',  # one quoted part
    "[[t.u]]\nk = 1\n[[t.u]]\nk = 2\n",
])
def test_long_but_shallow_text_passes(text: str) -> None:
    check_nesting(text, "t.toml")
    parse_toml(text, "t.toml")


def test_an_unterminated_string_is_left_to_tomllib() -> None:
    with pytest.raises(ConfigError, match=r"^t\.toml:1: TOML syntax error"):
        parse_toml('x = "open\n' + dotted(100) + " = 1\n", "t.toml")
