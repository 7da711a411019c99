"""Durable mob records: a mob's definition and state, its roster (members, wiring), its event log, and keyed
records of other mob features (flow runs). The contract, its shapes, and the in-memory implementation.

One call is one transaction: a change is all there or not at all. A stored record that cannot be decoded is a
``CorruptRecordError`` naming the mob and the record; it is never rewritten.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mobkat.errors import CorruptRecordError, MobExistsError, MobNotFoundError
from mobkat.history import utc_now
from mobkat.store.base import closed_error

MobState = Literal["Creating", "Running", "Stopped", "Completed", "Destroyed"]
"""Upstream's mob states (PascalCase on the wire)."""
StoredEvent = tuple[int, float, str, dict[str, Any]]
"""One mob event as stored: ``(cursor, unix seconds, type, fields)``."""
MOBS_DB = "mobs.db"


class MobRecord(BaseModel):
    """What a mob is: its definition (JSON form), where its relative skill paths start, its state and epoch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mob_id: str = Field(min_length=1)
    definition: dict[str, Any]
    base_dir: str = "."
    state: MobState = "Running"
    epoch: int = Field(default=0, ge=0, description="Incremented by every reset.")
    created_at: str = Field(default_factory=utc_now)
    updated_at: str = Field(default_factory=utc_now)


class MemberRow(BaseModel):
    """One roster entry: the member's current incarnation and the session it runs on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    profile: str
    generation: int = Field(ge=0)
    session_id: str
    runtime_mode: str
    labels: dict[str, str] = Field(default_factory=dict)
    status: Literal["active", "broken"] = "active"


@runtime_checkable
class MobRecordStore(Protocol):
    """Mobs of one realm. Every method is thread-safe and is one transaction. Unknown mob ids raise
    ``MobNotFoundError`` (except :meth:`get_mob`, which answers ``None``)."""

    @property
    def durable(self) -> bool:
        """True when records outlive the process."""
        ...

    def create_mob(self, record: MobRecord) -> None:
        """Add a mob; an existing ``mob_id`` raises ``MobExistsError``."""
        ...

    def get_mob(self, mob_id: str) -> MobRecord | None: ...

    def list_mobs(self) -> list[MobRecord]:
        """Every mob by id (a mob whose record cannot be decoded is left out and logged)."""
        ...

    def update_mob(self, mob_id: str, *, state: MobState | None = None, epoch: int | None = None,
                   definition: dict[str, Any] | None = None) -> MobRecord: ...

    def delete_mob(self, mob_id: str) -> None:
        """Forget the mob: its record, roster, events and keyed records (idempotent)."""
        ...

    def put_member(self, mob_id: str, member: MemberRow) -> None:
        """Add or replace the roster entry ``member.name``."""
        ...

    def remove_member(self, mob_id: str, name: str) -> None:
        """Drop a member and every edge it is on."""
        ...

    def clear_roster(self, mob_id: str) -> None:
        """Drop every member and edge."""
        ...

    def members(self, mob_id: str) -> list[MemberRow]: ...

    def add_edge(self, mob_id: str, a: str, b: str) -> None: ...

    def remove_edge(self, mob_id: str, a: str, b: str) -> None: ...

    def edges(self, mob_id: str) -> list[tuple[str, str]]:
        """Wiring edges, each as a sorted pair, sorted."""
        ...

    def append_events(self, mob_id: str, events: Sequence[StoredEvent]) -> None:
        """Append events (cursors increasing); an event whose cursor is stored already is skipped."""
        ...

    def events(self, mob_id: str) -> list[StoredEvent]:
        """Every stored event of the mob, by cursor."""
        ...

    def put_record(self, mob_id: str, kind: str, key: str, data: dict[str, Any]) -> None:
        """Add or replace keyed record ``(kind, key)`` (e.g. ``("flow_run", run_id)``)."""
        ...

    def get_record(self, mob_id: str, kind: str, key: str) -> dict[str, Any] | None: ...

    def list_records(self, mob_id: str, kind: str) -> list[dict[str, Any]]:
        """Records of ``kind``, in the order they were first put."""
        ...

    def close(self) -> None: ...


# --- shared helpers ---------------------------------------------------------------------------------------


def edge(a: str, b: str) -> tuple[str, str]:
    first, second = sorted((a, b))
    return first, second


def pack(data: Any) -> bytes:
    packed: bytes = msgpack.packb(data, use_bin_type=True)
    return packed


def unpack(blob: bytes, *, mob_id: str, what: str, where: str) -> Any:
    """msgpack bytes back to data; undecodable bytes are a ``CorruptRecordError`` for that mob."""
    try:
        return msgpack.unpackb(blob, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise corrupt(mob_id, what, where, exc) from exc


def corrupt(mob_id: str, what: str, where: str, exc: Exception) -> CorruptRecordError:
    problem = f"{type(exc).__name__}: {exc}"[:200]
    if isinstance(exc, ValidationError):
        problem = f"{exc.error_count()} validation error(s): {exc.errors(include_input=False)[0]['msg']}"
    return CorruptRecordError(
        f"mob {mob_id}: its {what} cannot be decoded ({problem}); corrupt mob record at {where}. The record is "
        "kept as stored: restore the state root from a backup to use this mob",
        details={"mob_id": mob_id, "record": what, "where": where})


def decode_model(model: type[MobRecord] | type[MemberRow], blob: bytes, *, mob_id: str, what: str,
                 where: str) -> Any:
    data = unpack(blob, mob_id=mob_id, what=what, where=where)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise corrupt(mob_id, what, where, exc) from exc


def mob_not_found(mob_id: str) -> MobNotFoundError:
    return MobNotFoundError(f"mob not found: {mob_id} (no record in the mob store)", details={"mob_id": mob_id})


def mob_exists(mob_id: str) -> MobExistsError:
    return MobExistsError(f"mob already exists: {mob_id} (the mob store has a record of it)",
                          details={"mob_id": mob_id})


def updated(record: MobRecord, state: MobState | None, epoch: int | None,
            definition: dict[str, Any] | None) -> MobRecord:
    changes: dict[str, Any] = {"updated_at": utc_now()}
    if state is not None:
        changes["state"] = state
    if epoch is not None:
        changes["epoch"] = epoch
    if definition is not None:
        changes["definition"] = definition
    return record.model_copy(update=changes)


# --- in memory --------------------------------------------------------------------------------------------


@dataclass
class _Mob:
    record: MobRecord
    members: dict[str, MemberRow] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    events: dict[int, StoredEvent] = field(default_factory=dict)
    records: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


class MemoryMobRecordStore:
    """``MobRecordStore`` in dicts behind one lock (nothing survives the process)."""

    durable = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mobs: dict[str, _Mob] = {}
        self._closed = False

    def _mob(self, mob_id: str) -> _Mob:
        if self._closed:
            raise closed_error("mob record store")
        found = self._mobs.get(mob_id)
        if found is None:
            raise mob_not_found(mob_id)
        return found

    def create_mob(self, record: MobRecord) -> None:
        with self._lock:
            if self._closed:
                raise closed_error("mob record store")
            if record.mob_id in self._mobs:
                raise mob_exists(record.mob_id)
            self._mobs[record.mob_id] = _Mob(record)

    def get_mob(self, mob_id: str) -> MobRecord | None:
        with self._lock:
            found = self._mobs.get(mob_id)
            return None if found is None else found.record

    def list_mobs(self) -> list[MobRecord]:
        with self._lock:
            return [self._mobs[mob_id].record for mob_id in sorted(self._mobs)]

    def update_mob(self, mob_id: str, *, state: MobState | None = None, epoch: int | None = None,
                   definition: dict[str, Any] | None = None) -> MobRecord:
        with self._lock:
            mob = self._mob(mob_id)
            mob.record = updated(mob.record, state, epoch, definition)
            return mob.record

    def delete_mob(self, mob_id: str) -> None:
        with self._lock:
            self._mobs.pop(mob_id, None)

    def put_member(self, mob_id: str, member: MemberRow) -> None:
        with self._lock:
            self._mob(mob_id).members[member.name] = member

    def remove_member(self, mob_id: str, name: str) -> None:
        with self._lock:
            mob = self._mob(mob_id)
            mob.members.pop(name, None)
            mob.edges = {pair for pair in mob.edges if name not in pair}

    def clear_roster(self, mob_id: str) -> None:
        with self._lock:
            mob = self._mob(mob_id)
            mob.members.clear()
            mob.edges.clear()

    def members(self, mob_id: str) -> list[MemberRow]:
        with self._lock:
            return list(self._mob(mob_id).members.values())

    def add_edge(self, mob_id: str, a: str, b: str) -> None:
        with self._lock:
            self._mob(mob_id).edges.add(edge(a, b))

    def remove_edge(self, mob_id: str, a: str, b: str) -> None:
        with self._lock:
            self._mob(mob_id).edges.discard(edge(a, b))

    def edges(self, mob_id: str) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._mob(mob_id).edges)

    def append_events(self, mob_id: str, events: Sequence[StoredEvent]) -> None:
        with self._lock:
            stored = self._mob(mob_id).events
            for event in events:
                stored.setdefault(event[0], event)

    def events(self, mob_id: str) -> list[StoredEvent]:
        with self._lock:
            stored = self._mob(mob_id).events
            return [stored[cursor] for cursor in sorted(stored)]

    def put_record(self, mob_id: str, kind: str, key: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._mob(mob_id).records[(kind, key)] = unpack(pack(data), mob_id=mob_id, what=kind, where="memory")

    def get_record(self, mob_id: str, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._mob(mob_id).records.get((kind, key))
            return None if found is None else dict(found)

    def list_records(self, mob_id: str, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(data) for (k, _key), data in self._mob(mob_id).records.items() if k == kind]

    def close(self) -> None:
        with self._lock:
            self._closed = True


__all__ = ["MOBS_DB", "MemberRow", "MemoryMobRecordStore", "MobRecord", "MobRecordStore", "MobState",
           "StoredEvent"]
