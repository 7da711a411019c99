"""Python tools in a client's definition come only from the operator's allow-list, decided on the import
path's text before anything is imported (issue #10); the operator's own definitions keep any import path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobkat.errors import InvalidInputError, PythonToolNotAllowedError
from mobkat.mob import DefinitionTrust, MobDefinition, ToolAllowList
from mobkat.rpc.options import ServerOptions

TOOLS = "tests.hardening.trust_tools"


def tooled(*specs: str) -> dict[str, Any]:
    return {"id": "t", "profiles": {"w": {"model": "gpt-5.5", "tools": {"comms": False, "python": list(specs)}}}}


@pytest.fixture
def booby_trap(tmp_path: Path) -> Iterator[Path]:
    """An importable module that leaves a marker file when imported."""
    marker = tmp_path / "imported"
    (tmp_path / "trap_module.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
                                             "def run() -> str:\n    return 'ran'\n")
    sys.path.insert(0, str(tmp_path))
    yield marker
    sys.path.remove(str(tmp_path))
    sys.modules.pop("trap_module", None)


def test_a_client_definition_naming_an_unlisted_tool_is_refused_before_any_import(booby_trap: Path) -> None:
    trust = DefinitionTrust.from_client(definitions_root=None, allow_python_tools=[f"{TOOLS}:*"])
    with pytest.raises(PythonToolNotAllowedError) as caught:
        MobDefinition.from_dict(tooled(f"{TOOLS}:send_message", "trap_module:run"), source="mob/create", trust=trust)
    assert not booby_trap.exists() and "trap_module" not in sys.modules
    error = caught.value
    assert str(error) == (
        "mob/create: profiles.w.tools.python[1]: Python tool 'trap_module:run' is not allowed in a definition sent "
        "over JSON-RPC (it is not on this server's allow-list); definitions are data: the server's operator must "
        "allow it with `mobkat rpc --allow-python-tools 'trap_module:run'` (or 'trap_module:*')")
    assert (error.code, error.rpc_code) == ("python_tool_not_allowed", -32602)
    assert error.details == {"file": "mob/create", "line": None, "key": "profiles.w.tools.python[1]",
                             "tool": "trap_module:run", "flag": "--allow-python-tools", "other_problems": []}


def test_the_operators_own_definition_may_name_any_importable_function(booby_trap: Path) -> None:
    definition = MobDefinition.from_dict(tooled("trap_module:run"))
    assert not booby_trap.exists()  # imported at spawn, as before
    assert [tool() for tool in definition.python_tools("w")] == ["ran"]
    assert booby_trap.exists()


def test_an_allowed_tool_imports_and_a_re_exported_name_does_not_become_a_tool() -> None:
    trust = DefinitionTrust.from_client(definitions_root=None, allow_python_tools=[f"{TOOLS}:*"])
    tools = MobDefinition.from_dict(tooled(f"{TOOLS}:send_message"), trust=trust).python_tools("w")
    assert [tool.__name__ for tool in tools] == ["send_message"]
    reexported = MobDefinition.from_dict(tooled(f"{TOOLS}:getenv"), trust=trust)  # the text check passes
    with pytest.raises(PythonToolNotAllowedError, match="getenv is not defined in the allowed module itself"):
        reexported.python_tools("w")
    exact = DefinitionTrust.from_client(definitions_root=None, allow_python_tools=[f"{TOOLS}:getenv"])
    assert MobDefinition.from_dict(tooled(f"{TOOLS}:getenv"), trust=exact).python_tools("w")[0]("HOME") is not None


@pytest.mark.parametrize(("spec", "allowed"), [
    ("pkg.mod:func", True), ("pkg.mod:other", True), ("pkg.mod:_private", False), ("pkg.mod:os.system", False),
    ("pkg.mod.sub:func", False), ("pkg:mod", False), ("other:exact", True), ("other:exact.attr", False),
    ("other:inexact", False), ("os:system", False),
])
def test_patterns_match_exactly_or_the_public_names_of_one_module(spec: str, allowed: bool) -> None:
    assert ToolAllowList(["pkg.mod:*", "other:exact"]).allows(spec) is allowed


@pytest.mark.parametrize("pattern", ["pkg.mod", "pkg.*:*", "pkg.mod:f*", ":f", "pkg mod:f", "pkg.mod:"])
def test_a_malformed_pattern_stops_the_server_start(pattern: str) -> None:
    with pytest.raises(InvalidInputError, match=r"^--allow-python-tools .*: expected 'package.module:function'"):
        ServerOptions(allow_python_tools=("ok.mod:*", pattern)).check()


def test_the_definitions_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInputError, match=r"--definitions-root .*: not a directory"):
        ServerOptions(definitions_root=tmp_path / "file").check()
    ServerOptions(definitions_root=tmp_path).check()


def test_a_refusal_is_the_answer_even_after_other_problems() -> None:
    trust = DefinitionTrust.from_client(definitions_root=None)
    data = {"id": "t", "orchestrator": "ghost",
            "profiles": {"w": {"model": "nope-9", "tools": {"python": ["os:system"]}}}}
    with pytest.raises(PythonToolNotAllowedError) as caught:
        MobDefinition.from_dict(data, trust=trust)
    assert caught.value.key == "profiles.w.tools.python[0]"
    assert len(caught.value.details["other_problems"]) == 2  # the orchestrator and the model
