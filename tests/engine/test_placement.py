"""Placement, the Ray address and the shared store, without a cluster (hypothesis for the chooser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mobkat.engine.placement import NodeInfo, choose_node, qualifies
from mobkat.engine.ray_cluster import RayTarget, is_loopback
from mobkat.engine.ray_mob import store_spec_for
from mobkat.errors import InvalidInputError, MobError
from mobkat.mob.definition_schema import Placement

RESOURCES = st.dictionaries(st.sampled_from(["CPU", "GPU", "spare"]), st.integers(0, 3).map(float), max_size=3)
LABELS = st.dictionaries(st.sampled_from(["zone", "tier"]), st.sampled_from(["a", "b"]), max_size=2)
NODES = st.lists(st.builds(NodeInfo, st.uuids().map(str), RESOURCES, LABELS), min_size=1, max_size=6,
                 unique_by=lambda node: node.node_id)


@given(NODES, st.builds(Placement, resources=RESOURCES, labels=LABELS), st.data())
def test_the_chosen_node_qualifies_and_is_the_least_loaded_of_those_that_do(
        nodes: list[NodeInfo], pins: Placement, data: st.DataObject) -> None:
    load = {node.node_id: data.draw(st.integers(0, 5)) for node in nodes}
    fitting = [node for node in nodes if qualifies(node, pins)]
    if not fitting:
        with pytest.raises(MobError, match="no alive Ray node can host member m"):
            choose_node(nodes, pins, load, member="m")
        return
    chosen = choose_node(nodes, pins, load, member="m")
    assert chosen in fitting
    assert load[chosen.node_id] == min(load[node.node_id] for node in fitting)


def test_members_spread_over_nodes_by_default() -> None:
    nodes = [NodeInfo("n1"), NodeInfo("n2")]
    load: dict[str, int] = {}
    for _ in range(6):
        chosen = choose_node(nodes, Placement(), load, member="m")
        load[chosen.node_id] = load.get(chosen.node_id, 0) + 1
    assert load == {"n1": 3, "n2": 3}


def test_a_pin_is_a_filter_on_resources_and_labels() -> None:
    node = NodeInfo("n", {"GPU": 1.0}, {"zone": "a"})
    assert qualifies(node, Placement(resources={"GPU": 1}, labels={"zone": "a"}))
    assert not qualifies(node, Placement(resources={"GPU": 2}))
    assert not qualifies(node, Placement(labels={"zone": "b"}))


@pytest.mark.parametrize("address", ["local", "127.0.0.1:6379", "ray-head.internal:6379"])
def test_ray_addresses(address: str) -> None:
    assert RayTarget(address).address == address


@pytest.mark.parametrize("address", ["", "auto", "127.0.0.1", "host:port", "http://x:1"])
def test_a_bad_ray_address_is_a_typed_error_naming_it(address: str) -> None:
    with pytest.raises(InvalidInputError, match="--ray takes 'local' or HOST:PORT"):
        RayTarget(address)


def test_loopback() -> None:
    assert is_loopback("127.0.0.1:1") and is_loopback("localhost:2") and not is_loopback("10.0.0.2:3")


def test_the_shared_store(tmp_path: Path) -> None:
    local = RayTarget("local")
    sqlite = store_spec_for("crew", tmp_path, None, local)
    assert sqlite.kind == "sqlite" and sqlite.location == str(tmp_path / "crew" / "sessions.db")
    secret = store_spec_for("crew", tmp_path, "postgresql://mobkat:s3cret@db.internal/mobkat", local)
    assert secret.kind == "postgres" and "s3cret" not in repr(secret) and "s3cret" not in str(secret)
    assert store_spec_for("crew", None, None, local).kind == "sqlite"  # a temporary directory: this machine only
    with pytest.raises(InvalidInputError, match="every node must reach the histories"):
        store_spec_for("crew", None, None, RayTarget("10.0.0.2:6379"))
