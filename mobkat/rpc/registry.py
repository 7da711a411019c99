"""The method table: each family of methods is one module with ``register(registry)``.

A family module declares its capability once and adds its methods::

    def register(registry: MethodRegistry) -> None:
        family = registry.family("mob", "Mobs of agents: mob/* methods")
        family.add("mob/create", MobCreateParams, mob_create)

Handlers are ``async def handler(call: Call, params: P) -> JSON``; params arrive validated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mobkat.rpc.protocol import ErrorStyle

if TYPE_CHECKING:
    from mobkat.rpc.host import ServerHost

Notify = Callable[[str, dict[str, Any]], None]
Ask = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""``ask(method, params)``: a server→client request on the same connection (e.g. ``tool/execute``)."""


@dataclass(frozen=True)
class Call:
    """What a handler gets besides its params: the server host, a way to notify this connection, and
    ``closed``, set when the connection ends (for work that outlives the call, e.g. event streams)."""

    host: ServerHost
    method: str
    notify: Notify
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    ask: Ask | None = None
    """Send a request to this connection's client and await its result (``None``: the transport cannot)."""


Handler = Callable[[Call, Any], Awaitable[Any]]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    params: type[BaseModel]
    handler: Handler
    family: str
    errors: ErrorStyle


@dataclass(frozen=True)
class CapabilitySpec:
    """One ``capabilities/get`` entry: a method family this server may offer."""

    id: str
    description: str


class Family:
    """Adds methods of one family (and capability) to a registry."""

    def __init__(self, registry: MethodRegistry, capability: CapabilitySpec, errors: ErrorStyle) -> None:
        self._registry = registry
        self.capability = capability
        self._errors = errors

    def add(self, name: str, params: type[BaseModel], handler: Handler) -> None:
        self._registry.add(MethodSpec(name, params, handler, self.capability.id, self._errors))


class MethodRegistry:
    """Name → method. Registration order is the order ``initialize`` lists methods in."""

    def __init__(self) -> None:
        self._methods: dict[str, MethodSpec] = {}
        self._families: dict[str, CapabilitySpec] = {}

    def family(self, capability_id: str, description: str, *, errors: ErrorStyle = "standard") -> Family:
        spec = CapabilitySpec(capability_id, description)
        self._families.setdefault(capability_id, spec)
        return Family(self, spec, errors)

    def add(self, spec: MethodSpec) -> None:
        if spec.name in self._methods:
            raise ValueError(f"RPC method {spec.name!r} is registered twice")
        self._methods[spec.name] = spec

    def get(self, name: str) -> MethodSpec | None:
        return self._methods.get(name)

    def names(self) -> list[str]:
        return list(self._methods)

    def families(self) -> list[CapabilitySpec]:
        return list(self._families.values())

    def offers(self, capability_id: str) -> bool:
        return capability_id in self._families
