"""A realm id names a directory under the state root: ids that would escape it, nest, or be empty are refused."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from mobkat.client import MobkatClient
from mobkat.client.errors import ConnectionClosed
from mobkat.errors import InvalidInputError
from mobkat.rpc.realms import Realm
from tests.rpc.helpers import SERVER, server_env

BAD_IDS = ["../x", "a/b", "", "..", "/abs", "x/../../y", ".hidden", "a\\b", "a" * 129]


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("realm_id", BAD_IDS)
def test_realm_resolve_refuses_ids_that_are_not_one_plain_name(realm_id: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"realm id .* is not valid") as err:
        Realm.resolve(realm_id=realm_id, isolated=False, state_root=tmp_path)
    assert err.value.details == {"realm_id": realm_id}
    ok = Realm.resolve(realm_id="team-b.2", isolated=False, state_root=tmp_path)
    assert ok.root == tmp_path / "realms" / "team-b.2"


def test_mobkat_rpc_refuses_a_bad_realm_before_touching_the_state_root(tmp_path: Path) -> None:
    state = tmp_path / "state"
    runs = {realm_id: subprocess.Popen([*SERVER, "--simulator", "--state-root", str(state), "--realm", realm_id],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       env=server_env())
            for realm_id in ("../x", "a/b", "")}
    for realm_id, process in runs.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1, (realm_id, err)
        assert f"mobkat rpc: error: realm id {realm_id!r} is not valid" in err.decode()
        assert out == b""  # stdout carries only protocol lines, and there were none
    assert _files(tmp_path) == []  # nothing created: not under the state root, and not beside it


def test_the_client_reports_a_refused_realm(tmp_path: Path) -> None:
    async def connect(realm_id: str) -> str:
        with pytest.raises(ConnectionClosed) as err:
            await MobkatClient().connect(realm_id=realm_id, simulator=True, state_root=tmp_path / "state")
        return err.value.message

    async def both() -> list[str]:
        return list(await asyncio.gather(connect("../escape"), connect("")))

    escape, empty = asyncio.run(both())
    assert "realm id '../escape' is not valid" in escape
    assert "realm id '' is not valid" in empty  # an empty id is refused, not read as "no realm"
    assert _files(tmp_path) == []
