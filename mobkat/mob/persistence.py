"""How a mob outlives its process: the roster journal, the event journal, and restoring members.

- :class:`RosterJournal`: every roster change (spawn, retire, wire, unwire, restart, reset) is written to the
  :class:`~mobkat.store.mob_records.MobRecordStore` as it happens, one transaction per change, from the
  supervisor's thread. The roster store is what a restore rebuilds from.
- :class:`EventJournal`: every event of the mob's :class:`~mobkat.mob.events.EventLog` is written by one
  background thread as soon as it can, in batches (what is appended while one batch is written goes in the
  next), so appending an event on the routing path costs no disk write. A clean stop writes every event; a
  ``kill -9`` may lose the events appended in the last moment before it (typically under a millisecond; never
  the roster): a restored log continues from the last stored cursor, which its ``mob_restored`` event names
  (``previous_cursor``), so those lost cursors are used again by the new events.
- :func:`restore_members`: members come back on their sessions at generation + 1 (a new fence token:
  reports of the old incarnation are ignored), with a ``member_restored`` event each; wiring comes back
  silently (the sessions already hold the ``wired`` notices). A live channel is never carried over: a member
  whose profile opens one on spawn gets a new one, as after a crash. Messages routed but not yet committed
  when the process died are not redelivered.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from mobkat.errors import MobkatError
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.identity import MemberIdentity, new_fence
from mobkat.mob.member_record import MemberRecord
from mobkat.session import Session
from mobkat.store.mob_records import MemberRow, MobRecordStore, StoredEvent

if TYPE_CHECKING:
    from mobkat.mob.supervisor import Supervisor

log = logging.getLogger(__name__)


class RosterLog(Protocol):
    """Where the supervisor writes roster changes: a :class:`RosterJournal`, or :data:`NO_JOURNAL`."""

    def member(self, record: MemberRecord) -> None: ...

    def removed(self, name: str) -> None: ...

    def wired(self, a: str, b: str) -> None: ...

    def unwired(self, a: str, b: str) -> None: ...

    def cleared(self) -> None: ...


class _NoJournal:
    """Keeps nothing (a supervisor started without a journal)."""

    def member(self, record: MemberRecord) -> None:
        """Nothing to write."""

    def removed(self, name: str) -> None:
        """Nothing to write."""

    def wired(self, a: str, b: str) -> None:
        """Nothing to write."""

    def unwired(self, a: str, b: str) -> None:
        """Nothing to write."""

    def cleared(self) -> None:
        """Nothing to write."""


NO_JOURNAL: RosterLog = _NoJournal()


class RosterJournal:
    """Writes the roster of one mob to its record store, one change per transaction."""

    def __init__(self, records: MobRecordStore, mob_id: str) -> None:
        self.records = records
        self.mob_id = mob_id

    def member(self, record: MemberRecord) -> None:
        status = "broken" if record.status == "broken" else "active"
        self.records.put_member(self.mob_id, MemberRow(
            name=record.name, profile=record.profile, generation=record.identity.generation,
            session_id=record.session_id, runtime_mode=record.runtime_mode, labels=dict(record.labels),
            status=status))

    def removed(self, name: str) -> None:
        self.records.remove_member(self.mob_id, name)

    def wired(self, a: str, b: str) -> None:
        self.records.add_edge(self.mob_id, a, b)

    def unwired(self, a: str, b: str) -> None:
        self.records.remove_edge(self.mob_id, a, b)

    def cleared(self) -> None:
        self.records.clear_roster(self.mob_id)


class EventJournal:
    """The event log's sink: events are queued by :meth:`__call__` and written in batches by one thread."""

    def __init__(self, records: MobRecordStore, mob_id: str) -> None:
        self.records = records
        self.mob_id = mob_id
        self._queue: deque[StoredEvent] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mobkat-events-{mob_id}", daemon=True)
        self._thread.start()

    def __call__(self, raw: tuple[int, float, str, dict[str, Any]]) -> None:
        """Queue one appended event (called under the log's lock, so in cursor order)."""
        self._queue.append(raw)
        if not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()  # what is appended while a batch is written goes in the next one
            self._flush()
            if self._stop.is_set():
                self._flush()
                return

    def _flush(self) -> None:
        batch: list[StoredEvent] = []
        while self._queue:
            batch.append(self._queue.popleft())
        if not batch:
            return
        try:
            self.records.append_events(self.mob_id, batch)
        except MobkatError as exc:  # the roster is unaffected; the events of this batch are not kept
            log.warning("mob %s: cannot store events %d..%d: %s", self.mob_id, batch[0][0], batch[-1][0], exc)

    def close(self) -> None:
        """Write everything queued, then stop the thread. Idempotent."""
        self._stop.set()
        self._wake.set()
        self._thread.join()


def stored_roster(records: MobRecordStore, mob_id: str) -> list[dict[str, Any]]:
    """The stored roster in the shape of ``Supervisor.roster`` (a stopped mob's members)."""
    edges = records.edges(mob_id)
    views = []
    for row in records.members(mob_id):
        wired_to = sorted(b if a == row.name else a for a, b in edges if row.name in (a, b))
        views.append({"name": row.name, "role": row.profile, "generation": row.generation, "fence_token": None,
                      "status": row.status, "session_id": row.session_id, "wired_to": wired_to, "queued": 0,
                      "comms_name": f"{mob_id}/{row.profile}/{row.name}", "runtime_mode": row.runtime_mode,
                      "labels": dict(row.labels)})
    return views


def restore_members(supervisor: Supervisor, rows: Sequence[MemberRow], edges: Sequence[tuple[str, str]],
                    reason: str) -> list[str]:
    """Bring members back on their sessions (on the supervisor's thread); returns the names restored.

    A member whose session cannot be loaded (or whose profile the definition no longer has) stays in the
    stored roster and is reported by a ``member_broken`` event with ``restore_failed: true``."""
    definition = supervisor.definition
    restored: list[str] = []
    for row in rows:
        if row.name in supervisor.members:
            continue
        try:
            prof = definition.profile(row.profile)
            session = Session.load(supervisor.services, row.session_id,
                                   tools=supervisor._tools(row.profile, row.name))
        except MobkatError as exc:
            log.warning("mob %s: cannot restore member %s: %s", definition.id, row.name, exc)
            supervisor.events.append("member_broken", member=row.name, error=f"cannot restore: {exc.message}",
                                     restore_failed=True, session_id=row.session_id)
            continue
        identity = MemberIdentity(mob_id=definition.id, role=row.profile, name=row.name,
                                  generation=row.generation + 1, fence_token=new_fence())
        port = supervisor.engine.start_member(supervisor, session, identity, row.profile)
        live = definition.live_settings(row.profile)
        record = MemberRecord(name=row.name, profile=row.profile, identity=identity, port=port,
                              session_id=row.session_id, comms=prof.tools.comms,
                              live_wanted=live.open_on_spawn and session.profile.capabilities.realtime,
                              runtime_mode=cast(RuntimeMode, row.runtime_mode), labels=dict(row.labels))
        supervisor.members[row.name] = record
        supervisor.retired.pop(row.name, None)
        supervisor.journal.member(record)
        supervisor.events.append("member_restored", member=row.name, role=row.profile,
                                 generation=identity.generation, fence_token=identity.fence_token,
                                 session_id=row.session_id, runtime_mode=row.runtime_mode, reason=reason)
        if record.live_wanted and not session.idle:
            record.live_requested = True
            port.open_live()
        restored.append(row.name)
    for a, b in edges:
        if a in supervisor.members and b in supervisor.members:
            supervisor.edges.add(frozenset((a, b)))
    return restored


__all__ = ["EventJournal", "RosterJournal", "restore_members", "stored_roster"]
