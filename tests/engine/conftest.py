"""A real two-node Ray cluster on this machine (``ray.cluster_utils.Cluster``), on loopback only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported: no address probe

ray = pytest.importorskip("ray")

from mobkat.engine.ray_cluster import LOOPBACK, NAMESPACE  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A head node and one worker node (one CPU each; the worker also has a custom resource `spare`); this
    process joins it as the driver."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    made = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "node_ip_address": LOOPBACK,
                                                         "include_dashboard": False})
    try:
        made.add_node(num_cpus=1, node_ip_address=LOOPBACK, resources={"spare": 1})
        ray.init(address=made.address, _node_ip_address=LOOPBACK, namespace=NAMESPACE)
        made.wait_for_nodes()
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
