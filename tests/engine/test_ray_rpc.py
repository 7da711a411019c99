"""``mobkat rpc --ray local``: the mobs a client creates run on a Ray cluster, served through mob/* methods."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.rpc.helpers import TcpServer
from tests.rpc.test_mob_rpc import TEXT, Wire, drive, members_of, routed, said

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpServer]:
    state = tmp_path_factory.mktemp("ray-rpc")
    tcp = TcpServer(["--simulator", "--ray", "local", "--state-root", str(state), "--realm", "rayrpc"])
    yield tcp
    code = tcp.stop(timeout=90)  # the server's own backstop with --ray is 60 s (stopping a local cluster)
    assert code == 0, tcp.stderr.tail()  # SIGTERM with a mob on Ray is a clean stop (its head and hosts end with it)


def test_a_mob_created_over_rpc_runs_on_ray_and_relays(server: TcpServer) -> None:
    async def body(wire: Wire) -> None:
        definition = {"id": "duo", "profiles": {"a": {**TEXT, "external_addressable": True}, "b": TEXT},
                      "wiring": {"role_wiring": [{"a": "a", "b": "b"}]}}
        # the first mob starts the local cluster, the mob's head and its member hosts: Ray worker processes
        assert await wire.result("mob/create", {"definition": definition}, timeout=180) == {"mob_id": "duo"}
        for name in ("a", "b"):
            await wire.result("mob/spawn", {"mob_id": "duo", "profile": name, "agent_identity": name}, timeout=120)
        assert sorted(m["agent_identity"] for m in await members_of(wire, "duo")) == ["a", "b"]
        await wire.result("mob/member_send", {"mob_id": "duo", "agent_identity": "a",
                                              "content": "ask the b: what is 2+2?"})
        await wire.until_event("duo", routed("a", "b"), timeout=60)
        await wire.until_event("duo", routed("b", "a"), timeout=60)
        await wire.until_event("duo", said("a", "b says: Here is what I found about 'what is 2+2?'"), timeout=60)
        events = (await wire.result("mob/events", {"mob_id": "duo", "limit": 1000}))["events"]
        assert [e["cursor"] for e in events] == list(range(1, len(events) + 1))  # mirrored with no gap

        # a member's session is not served to session-level methods on this engine: a typed refusal, naming why
        refused = await wire.error("mob/turn_start", {"mob_id": "duo", "agent_identity": "a", "prompt": "hi"})
        assert refused["code"] == -32020 and refused["data"]["kind"] == "unsupported_method"
        assert refused["data"]["details"]["reason"] == "ray_engine"
        assert "runs on a Ray node" in refused["message"]
        assert (await wire.error("mob/turn_start", {"mob_id": "duo", "agent_identity": "ghost", "prompt": "hi"})
                )["data"]["kind"] == "member_not_found"
        await wire.result("mob/retire", {"mob_id": "duo", "agent_identity": "b"})
        assert [m["agent_identity"] for m in await members_of(wire, "duo")] == ["a"]

    drive(server, body)


def test_a_bad_ray_address_stops_the_server_with_a_typed_error(tmp_path: Path) -> None:
    from tests.rpc.helpers import exit_of, run_cli

    code, lines = exit_of(run_cli("--ray", "ray://head:10001", "--state-root", str(tmp_path)))
    assert code != 0 and any("--ray takes 'local' or HOST:PORT" in line for line in lines)
