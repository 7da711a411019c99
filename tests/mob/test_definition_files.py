"""Files a definition names are confined, regular and bounded (issue #10): the loader itself, without a
server. The refusal of a path outside the root never depends on what is there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mobkat.errors import ConfigError, DefinitionFileRefusedError
from mobkat.mob import DefinitionTrust, MobDefinition
from mobkat.mob.definition_files import (
    MAX_DEFINITION_BYTES,
    MAX_SKILL_BYTES,
    FileRefused,
    no_root_problem,
    outside_root_problem,
    read_bounded,
    read_confined,
)

TEAM = 'id = "team"\n[profiles.a]\nmodel = "gpt-5.5"\nskills = ["s"]\n[skills.s]\nsource = "path"\npath = "{path}"\n'
OUTSIDE = outside_root_problem(remote=True)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """``tmp/root`` (allowed) with a skill, next to ``tmp/outside`` holding a secret."""
    (tmp_path / "root" / "skills").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "root" / "skills" / "s.md").write_text("Skill text.\n")
    (tmp_path / "outside" / "secret.md").write_text("hunter2\n")
    return tmp_path / "root"


def refusal(given: str, root: Path | None, base: Path | None = None) -> FileRefused:
    with pytest.raises(FileRefused) as caught:
        read_confined(given, base=base or root or Path(), root=root, remote=True, limit=MAX_SKILL_BYTES)
    return caught.value


def test_a_path_inside_the_root_is_read(root: Path) -> None:
    assert read_confined("skills/s.md", base=root, root=root, remote=True, limit=100) == b"Skill text.\n"
    assert read_confined("skills/../skills/s.md", base=root, root=root, remote=True, limit=100) == b"Skill text.\n"
    assert read_confined(str(root / "skills" / "s.md"), base=root, root=root, remote=True, limit=100)
    (root / "inner-link.md").symlink_to(root / "skills" / "s.md")  # a symlink that stays inside is fine
    assert read_confined("inner-link.md", base=root, root=root, remote=True, limit=100) == b"Skill text.\n"


def test_dotdot_absolute_and_escaping_symlinks_get_one_refusal(root: Path) -> None:
    outside = root.parent / "outside"
    (root / "escape.md").symlink_to(outside / "secret.md")
    (root / "dangling.md").symlink_to(outside / "missing.md")
    (root / "dir-link").symlink_to(outside)
    for given in ["../outside/secret.md", "../outside/missing.md", str(outside / "secret.md"),
                  str(outside / "missing.md"), "escape.md", "dangling.md", "dir-link/secret.md", "dir-link/missing.md",
                  "skills/../../outside/secret.md", "../../../../../../etc/passwd", "/etc/passwd", "/etc/nope",
                  "bad\x00name"]:
        refused = refusal(given, root)
        assert (refused.problem, refused.refused) == (OUTSIDE, True), given


def test_missing_and_existing_files_outside_the_root_read_the_same(root: Path) -> None:
    outside = root.parent / "outside"
    exists = skill_error(root, str(outside / "secret.md"))
    missing = skill_error(root, str(outside / "missing.md"))
    assert type(exists) is type(missing) is DefinitionFileRefusedError
    assert str(exists).replace("secret.md", "X") == str(missing).replace("missing.md", "X")
    assert "hunter2" not in str(exists)


def skill_error(root: Path, skill_path: str) -> ConfigError:
    trust = DefinitionTrust.from_client(definitions_root=root)
    data = {"id": "t", "profiles": {"a": {"model": "gpt-5.5", "skills": ["s"]}},
            "skills": {"s": {"source": "path", "path": skill_path}}}
    with pytest.raises(ConfigError) as caught:
        MobDefinition.from_dict(data, trust=trust)
    return caught.value


@pytest.mark.parametrize("given", ["/proc/self/environ", "/proc/self/status", "/dev/zero", "/dev/stdin",
                                   "/sys/kernel/mm/transparent_hugepage/enabled", "proc/self/environ"])
def test_kernel_trees_are_refused_even_under_a_root_of_slash(given: str) -> None:
    assert refusal(given, Path("/")).problem == OUTSIDE


def test_without_a_root_nothing_is_read(root: Path) -> None:
    for given in ["skills/s.md", str(root / "skills" / "s.md"), "/proc/self/environ"]:
        assert refusal(given, None, base=root).problem == no_root_problem()


def test_non_regular_files_inside_the_root_are_refused_without_blocking(root: Path) -> None:
    os.mkfifo(root / "fifo.md")  # nobody writes it: a blocking open would hang this test
    (root / "dir.md").mkdir()
    for given in ["fifo.md", "dir.md"]:
        refused = refusal(given, root)
        assert refused.refused and refused.problem.startswith("refused: not a regular file"), given


def test_size_caps_read_at_most_one_byte_more(root: Path) -> None:
    (root / "exact.md").write_bytes(b"x" * MAX_SKILL_BYTES)
    (root / "over.md").write_bytes(b"x" * (MAX_SKILL_BYTES + 1))
    assert len(read_confined("exact.md", base=root, root=root, remote=True, limit=MAX_SKILL_BYTES)) == MAX_SKILL_BYTES
    assert refusal("over.md", root).problem == "refused: larger than the 256 KiB limit"
    (root / "big.toml").write_bytes(b"#" * (MAX_DEFINITION_BYTES + 1))
    with pytest.raises(DefinitionFileRefusedError, match=r"big\.toml: cannot read the file: refused: larger than "
                                                         r"the 1 MiB limit$"):
        MobDefinition.from_toml(root / "big.toml")  # the operator's own files are capped too


def test_missing_files_inside_the_root_are_named_plainly(root: Path) -> None:
    refused = refusal("skills/nope.md", root)
    assert (refused.problem, refused.refused) == ("does not exist", False)
    with pytest.raises(FileRefused, match="does not exist"):
        read_bounded(str(root / "nope"), limit=10)


def test_a_client_toml_path_is_relative_to_the_root_and_its_skills_stay_inside(root: Path) -> None:
    trust = DefinitionTrust.from_client(definitions_root=root)
    (root / "team.toml").write_text(TEAM.format(path="skills/s.md"))
    assert MobDefinition.from_toml("team.toml", trust=trust).system_prompt("a") == "Skill text."
    (root / "leaky.toml").write_text(TEAM.format(path="../outside/secret.md"))
    with pytest.raises(DefinitionFileRefusedError) as caught:
        MobDefinition.from_toml("leaky.toml", trust=trust)
    assert str(caught.value) == f"leaky.toml:7: skills.s.path: skill file '../outside/secret.md' {OUTSIDE}"


def test_the_operators_skills_stay_in_the_definitions_directory_unless_widened(root: Path) -> None:
    (root / "team.toml").write_text(TEAM.format(path="../outside/secret.md"))
    with pytest.raises(DefinitionFileRefusedError) as caught:
        MobDefinition.from_toml(root / "team.toml")
    assert caught.value.problem == ("skill file " + os.path.normpath(root / "../outside/secret.md") + " refused: a "
                                    "definition may only name regular files inside its own directory")
    widened = DefinitionTrust(files_root=root.parent)
    assert MobDefinition.from_toml(root / "team.toml", trust=widened).system_prompt("a") == "hunter2"
