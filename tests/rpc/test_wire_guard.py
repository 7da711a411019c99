"""The pre-parse JSON bounds agree with the structure ``json.loads`` sees, whatever the strings hold."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.rpc.wire_guard import check_json_shape, load_bounded, lone_surrogate_path

TRICKY = st.text(alphabet=st.sampled_from(list('[]{},"\\:ab é\n\t')), max_size=12)
VALUES = st.recursive(st.none() | st.booleans() | st.integers() | TRICKY,
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
                      max_leaves=40)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def members(value: Any) -> int:
    """``[``/``{`` plus separating commas: what the member bound counts."""
    if isinstance(value, list):
        return 1 + max(len(value) - 1, 0) + sum(members(v) for v in value)
    if isinstance(value, dict):
        return 1 + max(len(value) - 1, 0) + sum(members(v) for v in value.values())
    return 0


@settings(max_examples=300, deadline=None)
@given(VALUES, st.integers(1, 8), st.booleans())
def test_the_depth_bound_matches_the_parsed_structure(value: Any, max_depth: int, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode()
    problem = check_json_shape(text, max_depth=max_depth, max_members=10**6)
    assert (problem is not None) == (depth(value) > max_depth), (text, problem)
    if problem is None:
        assert load_bounded(text, max_depth=max_depth) == value


@settings(max_examples=300, deadline=None)
@given(VALUES, st.integers(0, 30))
def test_the_member_bound_matches_the_parsed_structure(value: Any, max_members: int) -> None:
    problem = check_json_shape(json.dumps(value).encode(), max_depth=10**6, max_members=max_members)
    assert (problem is not None) == (members(value) > max_members), problem


def test_lone_surrogates_are_found_by_path_and_pairs_are_not() -> None:
    params = json.loads('{"a": [1, {"b": "ok \\ud83d\\ude00"}], "c": {"d\\udc80": 1}, "e": "\\ud800"}')
    assert lone_surrogate_path(params, "params") == "params.c.d\\udc80"
    assert lone_surrogate_path({"a": ["x", "\udfff"]}, "params") == "params.a[1]"
    assert lone_surrogate_path({"a": "😀", "b": [None, 1.5, True]}, "params") is None
