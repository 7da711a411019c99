"""The Ray engine on a real two-node cluster: members spread over nodes and relay; losing a node mid-conversation
restarts its members on the surviving node at the next generation, history intact, every peer message
committed exactly once; the head actor survives its own restart."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mobkat.errors import MobError
from mobkat.mob.events import MobEvent
from mobkat.mob.links import consumed_message_ids
from mobkat.mob.mob import Mob

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(600)

PAIR = """
[mob]
id = "{mob_id}"

[profiles.lead]
model = "gpt-5.5"
runtime_mode = "turn_driven"
peer_description = "asks"

[profiles.helper]
model = "gpt-5.5"
runtime_mode = "turn_driven"
peer_description = "answers"

[profiles.keeper]
model = "gpt-5.5"
runtime_mode = "turn_driven"
[profiles.keeper.placement]
resources = {{ spare = 1 }}

[[wiring.role_wiring]]
a = "lead"
b = "helper"
"""


@pytest.fixture
def pair(cluster: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Mob]:
    mob_id = request.node.name.replace("test_", "")[:40].replace("-", "_")
    path = tmp_path / "pair.toml"
    path.write_text(PAIR.format(mob_id=mob_id))
    mob = Mob.from_toml(path, engine="ray", ray_address=cluster.address, state_root=tmp_path / "state",
                        simulator=True)
    with mob:
        yield mob


def _wait(mob: Mob, predicate: Any, after: int = 0, timeout: float = 120.0) -> MobEvent:
    return mob.wait_for_event(predicate, after=after, timeout=timeout)


def test_members_spread_over_the_two_nodes_and_relay(pair: Mob) -> None:
    pair.spawn("lead")
    pair.spawn("helper")
    placed = pair.ray_link.placement() if pair.ray_link else {}
    assert set(placed) == {"lead", "helper"} and placed["lead"] != placed["helper"]  # one member per node

    pair.send("lead", "ask the helper: which nodes are you on?")
    answer = _wait(pair, lambda e: e.type == "turn_committed" and e.get("member") == "lead"
                   and "Here is what I found" in (e.get("text") or ""))
    assert "which nodes are you on?" in answer.get("text")  # the helper's answer, relayed back to the lead
    routed = [(e.get("sender"), e.get("receiver")) for e in pair.events_log.after(0) if e.type == "peer_message_routed"]
    assert ("lead", "helper") in routed and ("helper", "lead") in routed  # across the nodes, both ways
    pair.wait_idle(timeout=60)
    helper_rows = pair.member("helper").history()
    assert any("which nodes are you on?" in (getattr(row, "body", None) or "") for row in helper_rows)
    info = pair.member("helper").info()  # a member call goes to the host that runs it
    assert info["name"] == "helper" and info["generation"] == 0


def test_placement_pins_a_role_to_the_nodes_that_qualify(cluster: Any, tmp_path: Path) -> None:
    pinned = PAIR.format(mob_id="pinned") + """
[profiles.helper.placement]
resources = { spare = 1 }

[profiles.gpu]
model = "gpt-5.5"
runtime_mode = "turn_driven"
[profiles.gpu.placement]
resources = { gpu_box = 1 }
"""
    path = tmp_path / "pinned.toml"
    path.write_text(pinned)
    with Mob.from_toml(path, engine="ray", ray_address=cluster.address, simulator=True) as mob:
        worker = cluster.worker_nodes and next(iter(cluster.worker_nodes)).node_id
        for name in ("one", "two", "three"):
            mob.spawn("helper", name)
        assert mob.ray_link is not None and set(mob.ray_link.placement().values()) == {worker}
        with pytest.raises(MobError, match=r"no alive Ray node can host member g1: placement wants resources "
                                           r"\{'gpu_box': 1.0\}"):
            mob.spawn("gpu", "g1")
        assert [m["name"] for m in mob.members()] == ["one", "two", "three"]  # the refused spawn left nothing
        with pytest.raises(MobError, match="already running on the Ray cluster"):
            Mob.from_toml(path, engine="ray", ray_address=cluster.address, simulator=True).start()


HOSTED = """
[mob]
id = "{mob_id}"

[profiles.keeper]
model = "gpt-5.5"
runtime_mode = "turn_driven"
{placement}
"""


@pytest.mark.parametrize(("mob_id", "declared", "placement", "hosts"), [
    ("declared_two", 2, "", "both"),  # one host per declared member, over the nodes
    ("declared_none", 0, "", "one"),  # no member declared: one host, not one per node
    ("spare_only", 2, "[profiles.keeper.placement]\nresources = { spare = 1 }", "worker"),  # where placement allows
])
def test_member_hosts_start_with_the_mob_where_its_members_may_go(cluster: Any, tmp_path: Path, mob_id: str,
                                                                  declared: int, placement: str, hosts: str) -> None:
    """A host is a Ray worker process (seconds to start; over a minute on a starved machine, which a flow's
    first step used to wait for): the mob starts hosts for the members it declares, on nodes their placement
    allows, before any member is spawned, and is started once they answer."""
    worker = next(iter(cluster.worker_nodes)).node_id
    path = tmp_path / f"{mob_id}.toml"
    members = "".join(f'\n[[members]]\nname = "k{i}"\nprofile = "keeper"\n' for i in range(declared))
    path.write_text(HOSTED.format(mob_id=mob_id, placement=placement) + members)
    with Mob.from_toml(path, engine="ray", ray_address=cluster.address, simulator=True) as mob:
        assert mob.ray_link is not None
        started = mob.ray_link.host_nodes()
        expected = {"both": 2, "one": 1, "worker": 1}[hosts]
        assert len(started) == len(set(started)) == expected
        if hosts == "worker":
            assert started == [worker]  # the head node has no `spare`: no host there
        assert mob.members() == []


def test_a_flow_runs_in_the_head_and_the_driver_follows_it(cluster: Any, tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    with Mob.from_toml(root / "mobs" / "flow-demo.toml", engine="ray", ray_address=cluster.address,
                       state_root=tmp_path, simulator=True) as mob:
        assert mob.flows() == ["main"]
        run_id = mob.run("dunes")
        run = mob.wait_flow(run_id, timeout=120)
        timeline = "\n".join(f"{e.timestamp} {e.type} {e.get('member') or ''}" for e in mob.events_log.after(0))
        assert run.status == "completed", f"{run.model_dump_json(indent=1)}\n{timeline}"  # what happened, if not
        assert set(run.root_step_outputs) == {"research", "draft", "review"}
        assert mob.run_result(run_id) is not None
        # the flow's events reach the driver through the mirror, which may trail the head's answer a little
        done = mob.wait_for_event(lambda e: e.type == "flow_completed", timeout=30)
        kinds = [e.type for e in mob.events_log.after(0) if e.cursor <= done.cursor]
        assert "flow_started" in kinds and kinds.count("step_completed") == 3


def test_a_live_members_observations_stream_to_the_driver(cluster: Any, tmp_path: Path) -> None:
    """A realtime member's channel runs on its node; ``live.subscribe`` streams what it observes to this process,
    in order, and the channel's other calls reach it there too."""
    path = tmp_path / "voice.toml"
    path.write_text('[mob]\nid = "voice"\n\n[profiles.voice]\nmodel = "gpt-realtime-2"\n'
                    'runtime_mode = "turn_driven"\n')
    with Mob.from_toml(path, engine="ray", ray_address=cluster.address, state_root=tmp_path,
                       simulator=True) as mob:
        mob.spawn("voice")
        mob.wait_for_event(lambda e: e.type == "live_opened", timeout=120)
        live = mob.member("voice").live
        seen: list[Any] = []
        completed = threading.Event()

        def observe(observation: Any) -> None:
            seen.append(observation)
            if observation.observation == "turn_completed" and observation.committed_messages >= 2:
                completed.set()

        live.subscribe(observe)
        live.send_text("tell me about the tide")
        assert completed.wait(120), [o.observation for o in seen]
        kinds = [o.observation for o in seen]
        assert "assistant_audio_chunk" in kinds and kinds.index("assistant_audio_chunk") < kinds.index("turn_completed")
        final = next(o for o in seen if o.observation == "assistant_transcript_final")
        assert final.text == "You said: tell me about the tide"
        assert live.status().status == "ready"
        assert mob.member("voice").history()[-1].text == "You said: tell me about the tide"


def test_losing_a_node_mid_conversation_restarts_its_members_elsewhere(pair: Mob, cluster: Any) -> None:
    pair.spawn("lead")
    pair.spawn("helper")
    pair.spawn("keeper")  # pinned to the worker node's `spare` resource: nowhere to go once it is lost
    assert pair.ray_link is not None
    placed = {name: node for name, node in pair.ray_link.placement().items() if name != "keeper"}
    head_node = cluster.head_node.node_id
    lost = next(name for name, node in placed.items() if node != head_node)
    other = next(name for name in placed if name != lost)
    sent = [pair.send_peer(other, lost, f"note {i} for you.") for i in range(3)]
    pair.wait_idle(timeout=60)
    before = pair.member(lost).history()
    cursor = pair.events_log.latest

    worker = next(node for node in cluster.worker_nodes if node.node_id == placed[lost])
    cluster.remove_node(worker)
    sent += [pair.send_peer(other, lost, f"note {i} after the loss.") for i in range(3, 7)]  # mid-conversation

    restarted = _wait(pair, lambda e: e.type == "member_restarted" and e.get("member") == lost, after=cursor)
    broken = _wait(pair, lambda e: e.type == "member_broken" and e.get("member") == "keeper", after=cursor)
    assert broken.get("restart_failed") and "no alive Ray node can host member keeper" in broken.get("error")
    assert "node lost" in restarted.get("error") and restarted.get("generation") == 1
    pair.wait_idle(timeout=120)
    assert pair.ray_link.placement()[lost] == head_node  # on the surviving node
    after = pair.member(lost).history()
    assert [row.model_dump() for row in after[:len(before)]] == [row.model_dump() for row in before]  # intact
    ids = [block.get("message_id") for row in after if row.role == "system_notice" for block in row.blocks or []]
    assert sorted(i for i in ids if i in sent) == sorted(sent)  # every message committed, none twice
    assert consumed_message_ids(after) >= set(sent)
    member = next(m for m in pair.members() if m["name"] == lost)
    assert member["generation"] == 1 and member["status"] == "active" and member["queued"] == 0
    assert next(m for m in pair.members() if m["name"] == "keeper")["status"] == "broken"  # the mob goes on
    pair.send_peer(other, lost, "still there?")  # and the mob goes on
    pair.wait_idle(timeout=60)


def test_the_head_actor_survives_its_own_restart(pair: Mob) -> None:
    pair.spawn("lead")
    pair.spawn("helper")
    pair.send_peer("lead", "helper", "remember this.")
    pair.wait_idle(timeout=60)
    assert pair.ray_link is not None and pair.ray_link.head is not None
    sessions = {m["name"]: m["session_id"] for m in pair.members()}
    cursor = pair.events_log.latest
    ray.kill(pair.ray_link.head, no_restart=False)  # Ray restarts it: it restores the mob from mobs.db

    restored = _wait(pair, lambda e: e.type == "mob_restored", after=cursor)
    assert restored.get("previous_cursor") >= cursor - 5  # the stored log continues (docs: last events may be lost)
    back = threading.Event()
    for _ in range(60):
        members = pair.members()
        if {m["name"] for m in members} == {"lead", "helper"} and all(m["generation"] == 1 for m in members):
            back.set()
            break
        pair.wait_for_event(lambda e: e.type == "member_restored", after=cursor, timeout=30)
    assert back.is_set()
    assert {m["name"]: m["session_id"] for m in pair.members()} == sessions  # on their sessions
    pair.send_peer("lead", "helper", "and this?")
    pair.wait_idle(timeout=60)
    assert any("and this?" in (getattr(row, "body", None) or "") for row in pair.member("helper").history())
