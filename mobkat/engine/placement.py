"""Choosing the node for a member: the profile's pins filter the nodes, the least loaded one wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from mobkat.errors import MobError
from mobkat.mob.definition_schema import Placement


@dataclass(frozen=True)
class NodeInfo:
    """One alive Ray node as placement sees it."""

    node_id: str
    resources: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


def qualifies(node: NodeInfo, pins: Placement) -> bool:
    return (all(node.resources.get(name, 0.0) >= amount for name, amount in pins.resources.items())
            and all(node.labels.get(key) == value for key, value in pins.labels.items()))


def choose_node(nodes: Sequence[NodeInfo], pins: Placement, load: Mapping[str, int], *,
                member: str) -> NodeInfo:
    """The qualifying node hosting the fewest members (ties: the first in ``nodes``); ``MobError`` naming the
    pins when no alive node qualifies."""
    fitting = [node for node in nodes if qualifies(node, pins)]
    if not fitting:
        raise MobError(f"no alive Ray node can host member {member}: placement wants resources "
                       f"{dict(pins.resources)} and labels {dict(pins.labels)}; alive nodes: "
                       f"{', '.join(n.node_id[:8] for n in nodes) or 'none'}",
                       details={"member": member, "resources": dict(pins.resources), "labels": dict(pins.labels)})
    return min(fitting, key=lambda node: load.get(node.node_id, 0))


__all__ = ["NodeInfo", "choose_node", "qualifies"]
