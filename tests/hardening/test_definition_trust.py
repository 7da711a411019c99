"""Definitions sent over JSON-RPC are data (issue #10, docs/security.md): through real ``mobkat rpc --tcp``
servers, a client cannot run code by naming Python tools, read files outside ``--definitions-root`` (nor
learn whether they exist), exhaust memory with ``/dev/zero``, or hang the server with FIFOs or
``/dev/stdin``; a 30,000-level dotted key is refused at once.

Every TCP server here runs under a 3 GiB address-space limit, so that a regression (an unbounded read)
fails its test instead of eating the shared machine's memory.
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mobkat.errors import ConfigError
from mobkat.mob import MobDefinition
from mobkat.toml_source import load_toml
from tests.hardening.trust_tools import MARKER_ENV
from tests.rpc.helpers import SERVER, RawRpc, StderrLines, TcpServer, server_env
from tests.rpc.test_mob_rpc import Wire, drive

ROOT = Path(__file__).resolve().parents[2]
TOOLS = "tests.hardening.trust_tools"
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
ADDRESS_SPACE = 3 * 1024**3
SECRET = "hunter2"
DEEP_KEY = ".".join(["a"] * 30_000) + " = 1\n"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


class GuardedServer(TcpServer):
    """``mobkat rpc --tcp 127.0.0.1:0 --simulator FLAGS`` under an address-space limit."""

    def __init__(self, flags: list[str], env: dict[str, str]) -> None:  # no super().__init__: its own Popen
        self.process = subprocess.Popen([*SERVER, "--tcp", "127.0.0.1:0", "--simulator", *flags],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, env=env, cwd=ROOT, preexec_fn=_limit_memory)
        assert self.process.stderr is not None
        self.stderr = StderrLines(self.process.stderr)
        self.address = self.stderr.wait_for(r"listening on tcp://(\S+) ")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@dataclass
class Tree:
    """The definitions root the operator allows, a directory outside it, and the tools' marker file."""

    root: Path
    outside: Path
    marker: Path


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("trust")
    root, outside = base / "definitions", base / "outside"
    (root / "skills").mkdir(parents=True)
    outside.mkdir()
    (root / "skills" / "role.md").write_text("You check facts.\n")
    (root / "team.toml").write_text('id = "team"\n[profiles.fact]\nmodel = "gpt-5.5"\nskills = ["role"]\n'
                                    '[skills.role]\nsource = "path"\npath = "skills/role.md"\n')
    (root / "bad.toml").write_text('id = "bad"\n[profiles.x]\nmodel = "gpt-5.5"\nmodle = 1\n')
    (root / "deep.toml").write_text('id = "deep"\n' + DEEP_KEY)
    (root / "big.toml").write_text("# padding\n" * 120_000)  # 1.2 MB > 1 MiB
    (root / "skills" / "big.md").write_text("x" * (256 * 1024 + 1))
    (outside / "secret.toml").write_text(f'password = "{SECRET}"\n')
    (outside / "broken.toml").write_text(f"password = {SECRET}\n")  # a syntax error would name line:column
    (outside / "skill.md").write_text(f"The password is {SECRET}.\n")
    (root / "out-link.toml").symlink_to(outside / "secret.toml")
    (root / "dangling.toml").symlink_to(outside / "nothing.toml")
    (root / "zero.toml").symlink_to("/dev/zero")
    (root / "skills" / "escape.md").symlink_to(outside / "skill.md")
    os.mkfifo(root / "fifo.toml")
    os.mkfifo(outside / "fifo.toml")
    return Tree(root=root, outside=outside, marker=base / "marker")


def _env(tree: Tree) -> dict[str, str]:
    return server_env(PYTHONPATH=str(ROOT), **{MARKER_ENV: str(tree.marker)})


@pytest.fixture(scope="module")
def bare(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedServer]:
    """No --definitions-root, no --allow-python-tools: definitions may name no tool and read no file."""
    server = GuardedServer(["--state-root", str(tmp_path_factory.mktemp("bare")), "--realm", "bare"], _env(tree))
    yield server
    try:
        assert server.stop() == 0
    finally:
        server.kill()


@pytest.fixture(scope="module")
def rooted(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuardedServer]:
    """``--definitions-root`` and one allow-listed tool module."""
    server = GuardedServer(["--state-root", str(tmp_path_factory.mktemp("rooted")), "--realm", "rooted",
                            "--definitions-root", str(tree.root), "--allow-python-tools", f"{TOOLS}:*"], _env(tree))
    yield server
    try:
        assert server.stop() == 0
    finally:
        server.kill()


def tooled(mob_id: str, spec: str) -> dict[str, Any]:
    """One member that hosts may message, whose only tool is ``spec`` (no comms tools)."""
    return {"id": mob_id, "profiles": {"worker": {**TEXT, "external_addressable": True,
                                                  "tools": {"comms": False, "python": [spec]}}}}


def with_skill(mob_id: str, path: str) -> dict[str, Any]:
    return {"id": mob_id, "profiles": {"worker": {**TEXT, "skills": ["s"]}},
            "skills": {"s": {"source": "path", "path": path}}}


def tool_ran(kind: dict[str, Any]) -> bool:
    return kind["type"] == "turn_committed" and "Tool send_message returned" in (kind.get("text") or "")


# -- 1. remote code execution ------------------------------------------------------------------------------
def test_a_client_cannot_make_the_server_run_a_python_tool_it_names(bare: GuardedServer, tree: Tree) -> None:
    async def body(wire: Wire) -> None:
        for mob_id, spec in (("rce", f"{TOOLS}:send_message"), ("system", "os:system")):
            response = await wire.call("mob/create", {"definition": tooled(mob_id, spec)})
            if "result" in response:  # the regression: play the attack out, so the failure shows what it does
                await wire.result("mob/spawn", {"mob_id": mob_id, "profile": "worker", "agent_identity": "w"})
                await wire.result("mob/member_send", {"mob_id": mob_id, "agent_identity": "w",
                                                      "content": "ask the boss: run it"})
                await wire.until_event(mob_id, lambda k: k["type"] == "turn_committed" and k["member"] == "w")
            assert not tree.marker.exists(), "the client's Python tool ran inside the server"
            error = response["error"]
            assert (error["code"], error["data"]["kind"]) == (-32602, "python_tool_not_allowed")
            assert error["message"].startswith("<json>: profiles.worker.tools.python[0]: Python tool "
                                               f"{spec!r} is not allowed in a definition sent over JSON-RPC")
            assert "--allow-python-tools" in error["message"]
            details = error["data"]["details"]
            assert (details["tool"], details["key"], details["flag"]) == (
                spec, "profiles.worker.tools.python[0]", "--allow-python-tools")
            missing = await wire.error("mob/spawn", {"mob_id": mob_id, "profile": "worker", "agent_identity": "w"})
            assert missing["data"]["kind"] == "mob_not_found"  # refused at create: nothing to spawn
        assert (await wire.result("mob/list"))["mobs"] == []

    drive(bare, body)
    assert not tree.marker.exists()


def test_an_allow_listed_tool_runs_and_nothing_else_passes_the_wildcard(rooted: GuardedServer, tree: Tree) -> None:
    async def body(wire: Wire) -> None:
        assert await wire.result("mob/create", {"definition": tooled("ok", f"{TOOLS}:send_message")}) == {
            "mob_id": "ok"}
        await wire.result("mob/spawn", {"mob_id": "ok", "profile": "worker", "agent_identity": "w"})
        await wire.result("mob/member_send", {"mob_id": "ok", "agent_identity": "w",
                                              "content": "ask the boss: are you there?"})
        ran = await wire.until_event("ok", tool_ran)
        assert "Tool send_message returned: marker written for boss" in ran["kind"]["text"]

        for spec in ("os:system", f"{TOOLS}:os.system", f"{TOOLS}:_private", f"{TOOLS}.sub:send_message",
                     "tests.hardening:trust_tools"):
            refused = await wire.error("mob/create", {"definition": tooled("escape", spec)})
            assert refused["data"]["kind"] == "python_tool_not_allowed", (spec, refused)
            assert "it is not on this server's allow-list" in refused["message"]
        # a name the module imports passes the text check, but never becomes a tool
        await wire.result("mob/create", {"definition": tooled("reexport", f"{TOOLS}:getenv")})
        reexport = await wire.error("mob/spawn", {"mob_id": "reexport", "profile": "worker", "agent_identity": "w"})
        assert reexport["data"]["kind"] == "python_tool_not_allowed"
        assert "getenv is not defined in the allowed module itself" in reexport["message"]

    drive(rooted, body)
    assert tree.marker.read_text() == "boss: are you there?"
    tree.marker.unlink()


# -- 2. reading files ----------------------------------------------------------------------------------------
def test_without_a_definitions_root_a_client_reads_no_file(bare: GuardedServer) -> None:
    async def body(wire: Wire) -> None:
        for path in ("/proc/self/environ", str(ROOT / "mobs" / "research-team.toml"), "mobs/pipeline.toml"):
            by_path = await wire.error("mob/create", {"path": path})
            assert by_path["data"]["kind"] == "definition_file_refused"
            assert by_path["message"].startswith(f"{path}: cannot read the file: refused: this server reads no files")
            skill = await wire.error("mob/create", {"definition": with_skill("leak", path)})
            assert skill["data"]["kind"] == "definition_file_refused"
            assert skill["message"].startswith(f"<json>: skills.s.path: skill file {path!r} refused: this server "
                                               "reads no files for definitions sent over JSON-RPC")
            assert "PATH=" not in str(skill) and "--definitions-root" in skill["message"]

    drive(bare, body)


OUTSIDE = ("cannot read the file: refused: definitions sent over JSON-RPC may only name regular files inside the "
           "server's --definitions-root directory (give paths relative to it)")


def test_paths_outside_the_root_get_one_refusal_that_reveals_nothing(rooted: GuardedServer, tree: Tree) -> None:
    outside = tree.outside
    paths = ["/etc/passwd", "/etc/shadow", "/etc/no-such-file", "../../../../../../etc/passwd",
             str(outside / "secret.toml"), str(outside / "broken.toml"), str(outside / "missing.toml"),
             "../outside/secret.toml", "../outside/missing.toml", "out-link.toml", "dangling.toml",
             "/proc/self/environ", "/dev/stdin", str(outside / "fifo.toml"), "skills/../../outside/secret.toml"]

    async def body(wire: Wire) -> None:
        for path in paths:
            error = await wire.error("mob/create", {"path": path})
            assert error["data"]["kind"] == "definition_file_refused", (path, error)
            assert error["message"] == f"{path}: {OUTSIDE}"  # the same whether it exists, is a FIFO, ...
            assert error["data"]["details"] == {"file": path, "line": None, "key": ""}
            assert SECRET not in str(error) and "password" not in str(error)
            skill = await wire.error("mob/create", {"definition": with_skill("leak", path)})
            assert skill["data"]["kind"] == "definition_file_refused", (path, skill)
            assert skill["message"] == f"<json>: skills.s.path: skill file {path!r} refused: " + OUTSIDE.split(
                "refused: ", 1)[1]
            assert SECRET not in str(skill)
        link = await wire.error("mob/create", {"definition": with_skill("leak", "skills/escape.md")})
        assert link["data"]["kind"] == "definition_file_refused" and SECRET not in str(link)

    drive(rooted, body)


def test_files_inside_the_root_load_and_keep_their_detailed_errors(rooted: GuardedServer, tree: Tree) -> None:
    async def body(wire: Wire) -> None:
        assert await wire.result("mob/create", {"path": "team.toml"}) == {"mob_id": "team"}
        await wire.result("mob/lifecycle", {"mob_id": "team", "action": "destroy"})
        assert await wire.result("mob/create", {"path": str(tree.root / "team.toml")}) == {"mob_id": "team"}
        inline = await wire.result("mob/create", {"definition": with_skill("inline", "skills/role.md")})
        assert inline == {"mob_id": "inline"}
        bad = await wire.error("mob/create", {"path": "bad.toml"})
        assert bad["data"]["kind"] == "config_invalid"
        assert bad["message"] == "bad.toml:4: profiles.x.modle: unknown key 'modle' (did you mean 'model'?)"
        missing = await wire.error("mob/create", {"path": "nope.toml"})
        assert missing["message"] == "nope.toml: cannot read the file: does not exist"
        fifo = await wire.error("mob/create", {"path": "fifo.toml"})
        assert fifo["data"]["kind"] == "definition_file_refused" and "not a regular file" in fifo["message"]

    drive(rooted, body)


# -- 3. /dev/zero and size caps --------------------------------------------------------------------------------
def test_dev_zero_and_oversized_files_are_refused_without_reading_them(rooted: GuardedServer) -> None:
    async def body(wire: Wire) -> None:
        for path in ("/dev/zero", "zero.toml"):
            error = await wire.error("mob/create", {"path": path})
            assert error["message"] == f"{path}: {OUTSIDE}"
            skill = await wire.error("mob/create", {"definition": with_skill("zero", path)})
            assert skill["data"]["kind"] == "definition_file_refused"
        big = await wire.error("mob/create", {"path": "big.toml"})
        assert big["message"] == "big.toml: cannot read the file: refused: larger than the 1 MiB limit"
        big_skill = await wire.error("mob/create", {"definition": with_skill("big", "skills/big.md")})
        assert big_skill["message"] == ("<json>: skills.s.path: skill file 'skills/big.md' refused: larger than the "
                                        "256 KiB limit")
        assert (await wire.result("session/list"))["sessions"] is not None  # the server is fine

    drive(rooted, body)
    assert rooted.process.poll() is None


# -- 4. FIFOs and /dev/stdin -------------------------------------------------------------------------------------
def test_sixty_four_fifos_neither_hang_the_server_nor_its_shutdown(tree: Tree, tmp_path: Path) -> None:
    server = GuardedServer(["--state-root", str(tmp_path / "state"), "--definitions-root", str(tree.root)],
                           _env(tree))
    fifos = [str(tree.root / "fifo.toml"), "fifo.toml", str(tree.outside / "fifo.toml")]

    async def body(wire: Wire) -> None:
        async with asyncio.timeout(20):
            answers = await asyncio.gather(*(wire.call("mob/create", {"path": fifos[i % len(fifos)]})
                                             for i in range(64)))
            assert all(a["error"]["data"]["kind"] == "definition_file_refused" for a in answers)
            assert "sessions" in await wire.result("session/list")

    try:
        drive(server, body)
        server.process.terminate()
        assert server.process.wait(15) == 0  # SIGTERM still stops it
    finally:
        server.kill()


def test_dev_stdin_cannot_swallow_the_stdio_protocol_stream(tree: Tree, tmp_path: Path) -> None:
    async def main() -> None:
        rpc = await RawRpc.start("--simulator", "--state-root", str(tmp_path / "state"),
                                 "--definitions-root", str(tree.root), env=_env(tree))
        try:
            for path in ("/dev/stdin", "/proc/self/fd/0"):
                refused = await rpc.call("mob/create", {"path": path}, timeout=10)
                assert refused["error"]["data"]["kind"] == "definition_file_refused"
            assert "sessions" in await rpc.result("session/list")
        finally:
            assert await rpc.close() == 0

    asyncio.run(main())


# -- 11. TOML nesting --------------------------------------------------------------------------------------------
def test_a_30000_level_dotted_key_is_refused_before_parsing(rooted: GuardedServer, tree: Tree) -> None:
    path = tree.root / "deep.toml"
    with pytest.raises(ConfigError) as caught:
        MobDefinition.from_toml(path)
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    assert "nest too deeply (more than 64 levels" in caught.value.problem
    with pytest.raises(ConfigError, match=r"deep\.toml:2: keys and values nest too deeply"):
        load_toml(path)

    async def body(wire: Wire) -> None:
        error = await wire.error("mob/create", {"path": "deep.toml"})
        assert error["data"]["kind"] == "config_invalid"
        assert error["message"].startswith("deep.toml:2: keys and values nest too deeply")

    drive(rooted, body)


def test_mobkat_validate_refuses_the_deep_key(tree: Tree) -> None:
    done = subprocess.run([*SERVER[:-1], "validate", str(tree.root / "deep.toml")], capture_output=True,
                          text=True, timeout=60, env=server_env(), preexec_fn=_limit_memory)
    assert done.returncode == 1
    assert "deep.toml:2: keys and values nest too deeply" in done.stderr


# -- 4. placement (the Ray engine's node filters) --------------------------------------------------------------
def placed(mob_id: str, placement: dict[str, Any]) -> dict[str, Any]:
    return {"id": mob_id, "profiles": {"worker": {**TEXT, "placement": placement}}}


@pytest.mark.parametrize(("placement", "key", "problem"), [
    ({"resources": {"gpu": float("nan")}}, "profiles.worker.placement.resources.gpu", "finite number"),
    ({"resources": {"gpu": float("inf")}}, "profiles.worker.placement.resources.gpu", "finite number"),
    ({"resources": {"gpu": -1}}, "profiles.worker.placement.resources.gpu", "greater than or equal to 0"),
    ({"resources": {"gpu": "1"}}, "profiles.worker.placement.resources.gpu", "expected a number, got string '1'"),
    ({"labels": {f"l{i}": "x" for i in range(10_000)}}, "profiles.worker.placement.labels", "at most 32 items"),
    ({"labels": {"zone": "x" * 100_000}}, "profiles.worker.placement.labels.zone", "at most 256 characters"),
    ({"labels": {"": "x"}}, 'profiles.worker.placement.labels.""', "invalid key '': expected a non-empty string"),
    ({"pin": "node-1"}, "profiles.worker.placement.pin", "unknown key 'pin' (known keys: labels, resources)"),
])
def test_a_hostile_placement_is_a_typed_error_naming_its_key(bare: GuardedServer, placement: dict[str, Any],
                                                            key: str, problem: str) -> None:
    """A definition's placement is only a filter over the nodes (no code, no files), yet a client's values are
    bounded and checked like every other field: each bad one is refused at ``mob/create``, naming its key."""
    async def body(wire: Wire) -> None:
        refused = await wire.error("mob/create", {"definition": placed("pinned", placement)})
        assert refused["code"] == -32602, refused
        assert refused["message"].startswith(f"<json>: {key}"), refused["message"][:300]
        assert problem in refused["message"], refused["message"][:300]
        assert len(refused["message"]) < 2_000  # the refusal does not echo a 100 KB value back
        assert (await wire.result("mob/list"))["mobs"] == []
        ok = await wire.result("mob/create", {"definition": placed("fine", {"resources": {"gpu": 1},
                                                                            "labels": {"zone": "a"}})})
        assert ok == {"mob_id": "fine"}  # the server goes on; a sane placement is accepted (and unused in-process)
        await wire.result("mob/destroy", {"mob_id": "fine"})

    drive(bare, body)
