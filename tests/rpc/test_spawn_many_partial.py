"""``mob/spawn_many`` reports every member truthfully when the server runs out of threads part-way.

The server runs in this process (a real :class:`ServerHost` serving JSON lines over TCP) so the
resource failure can be injected exactly: from the Nth member on, starting the member actor's thread
raises ``RuntimeError("can't start new thread")``, as ``threading.Thread.start`` does when the
process is out of threads. The upstream SDK's strict parser must accept the answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pykka
import pytest
from meerkat import MeerkatClient

from mobkat.config import MobkatConfig
from mobkat.mob.member import MemberActor
from mobkat.rpc.host import ServerHost
from mobkat.rpc.mob_seats import run_at_most_once
from mobkat.rpc.options import ServerOptions
from mobkat.rpc.realms import Realm
from mobkat.rpc.tcp import TcpListener
from mobkat.simulator import Simulator
from tests.rpc.helpers import LINE_LIMIT, poll_mob_events

TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "external_addressable": True}
DESK = {"id": "desk", "profiles": {"fact": TEXT}}


class ThreadBudget:
    """Let ``allowed`` member actors start their thread; the next ones fail like an exhausted process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
        self.allowed = allowed
        self.started = 0
        self.refused: list[pykka.ActorRef[Any]] = []
        original = MemberActor._start_actor_loop

        def start_loop(actor: MemberActor) -> None:
            if self.started >= self.allowed:
                self.refused.append(actor.actor_ref)
                raise RuntimeError("can't start new thread")
            self.started += 1
            original(actor)

        monkeypatch.setattr(MemberActor, "_start_actor_loop", start_loop)


@pytest.fixture
def address(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A server host in this process on a memory realm, with the simulator, serving TCP."""
    simulator = Simulator(record_frames=False).start()
    realm = Realm.resolve(realm_id=None, isolated=True, state_root=tmp_path, backend="memory")
    store = realm.open_store()
    host = ServerHost(ServerOptions(simulator=True, realm_backend="memory"), realm, MobkatConfig(), store, simulator)
    runtime = host.services.runtime.start()
    listener = runtime.run(TcpListener(host, max_connections=8).start(("127.0.0.1", 0)))
    try:
        yield listener.address
    finally:
        runtime.run(listener.close())
        host.mobs.stop_all()
        host.sessions.stop_all()
        host.services.close()
        store.close()
        simulator.stop()


async def call(address: tuple[str, int], method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One request on a fresh connection; the whole response object."""
    reader, writer = await asyncio.open_connection(*address, limit=LINE_LIMIT)
    try:
        writer.write(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode() + b"\n")
        await writer.drain()
        while True:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(reader.readline(), 30))
            if message.get("id") == 1:
                return message
    finally:
        writer.close()


async def result(address: tuple[str, int], method: str, params: dict[str, Any]) -> Any:
    response = await call(address, method, params)
    assert "error" not in response, response
    return response["result"]


def specs(*names: str) -> list[dict[str, Any]]:
    return [{"profile": "fact", "agent_identity": name} for name in names]


def test_out_of_threads_part_way_reports_each_member(address: tuple[str, int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    budget = ThreadBudget(monkeypatch, allowed=3)
    names = [f"f{i}" for i in range(6)]

    async def scenario() -> None:
        await result(address, "mob/create", {"definition": DESK})
        answer = await result(address, "mob/spawn_many", {"mob_id": "desk", "specs": specs(*names)})
        rows = answer["results"]
        assert [row["status"] for row in rows] == ["spawned"] * 3 + ["failed"] * 3
        assert [row["result"]["agent_identity"] for row in rows[:3]] == names[:3]
        for name, row in zip(names[3:], rows[3:], strict=True):
            failed = row["result"]
            assert failed["cause"] == "internal" and failed["structured_data"]["code"] == "resource_exhausted"
            assert f"spawning member {name}" in failed["message"] and "can't start new thread" in failed["message"]

        # the spawned members exist and work; the failed ones left nothing behind
        members = (await result(address, "mob/members", {"mob_id": "desk"}))["members"]
        assert sorted((m["agent_identity"], m["status"]) for m in members) == [(n, "active") for n in names[:3]]
        await result(address, "mob/member_send", {"mob_id": "desk", "agent_identity": "f1", "content": "hello f1"})

        async def read(cursor: int) -> list[dict[str, Any]]:
            page = await result(address, "mob/events", {"mob_id": "desk", "after_cursor": cursor})
            return list(page["events"])

        await poll_mob_events(read, lambda k: k["type"] == "turn_committed" and k["member"] == "f1")
        listed = (await result(address, "session/list", {}))["sessions"]
        assert sorted(s["labels"]["member"] for s in listed) == names[:3]
        archived = (await result(address, "session/list", {"include_archived": True}))["sessions"]
        assert sorted(s["labels"]["member"] for s in archived if s["archived"]) == names[3:]

        # threads are back: the failed ones spawn now, the spawned ones are still there
        budget.allowed = 100
        retry = await result(address, "mob/spawn_many", {"mob_id": "desk", "specs": specs(*names[2:])})
        assert [row["status"] for row in retry["results"]] == ["failed", "spawned", "spawned", "spawned"]
        assert retry["results"][0]["result"]["cause"] == "member_already_exists"

        # the upstream SDK parses the partial answer strictly
        client = MeerkatClient()

        async def replay(_method: str, _params: dict[str, Any]) -> Any:
            return answer

        client._request = replay
        parsed = await client.spawn_mob_members("desk", specs(*names))
        assert [(e.status, getattr(e.result, "cause", None)) for e in parsed.results] == \
            [("spawned", None)] * 3 + [("failed", "internal")] * 3

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        for ref in budget.refused:  # never started: nothing to stop, only the registry entry to drop
            pykka.ActorRegistry.unregister(ref)


def test_a_single_spawn_out_of_threads_is_a_typed_error(address: tuple[str, int],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    budget = ThreadBudget(monkeypatch, allowed=0)

    async def scenario() -> None:
        await result(address, "mob/create", {"definition": DESK})
        response = await call(address, "mob/spawn", {"mob_id": "desk", "profile": "fact", "agent_identity": "solo"})
        error = response["error"]
        assert error["code"] == -32603 and error["data"]["kind"] == "resource_exhausted"
        assert "spawning member solo" in error["message"]
        assert (await result(address, "mob/members", {"mob_id": "desk"}))["members"] == []

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        for ref in budget.refused:
            pykka.ActorRegistry.unregister(ref)


@pytest.mark.parametrize("worker_frees_first", [False, True])
def test_a_call_that_failed_to_start_never_runs_behind_the_callers_back(worker_frees_first: bool) -> None:
    busy, began = threading.Event(), threading.Event()
    ran: list[str] = []

    def spawn() -> str:
        began.set()
        ran.append("spawned")
        return "spawned"

    async def scenario() -> str:
        executor = ThreadPoolExecutor(max_workers=2)
        asyncio.get_running_loop().set_default_executor(executor)
        executor.submit(busy.wait, 10)  # the one worker there is, busy

        def adjust() -> None:  # queued already; now starting a 2nd worker fails
            if worker_frees_first:
                busy.set()
                assert began.wait(10)  # the freed worker took the queued call
            raise RuntimeError("can't start new thread")

        executor._adjust_thread_count = adjust  # type: ignore[method-assign]
        try:
            return await run_at_most_once(spawn)
        finally:
            busy.set()
            executor.shutdown(wait=True)

    if worker_frees_first:
        assert asyncio.run(scenario()) == "spawned"  # it ran: that is the answer
    else:
        with pytest.raises(RuntimeError, match="can't start new thread"):
            asyncio.run(scenario())
    assert ran == (["spawned"] if worker_frees_first else [])  # never once reported as failed
