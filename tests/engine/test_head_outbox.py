"""A host's queue to its mob's head: every item sent once, each thread's items in order, bursts batched."""

from __future__ import annotations

import threading
from typing import Any

from mobkat.engine.head_outbox import FlushingProxy, HeadEvents, HeadMailbox, HeadOutbox


class _Recorder:
    """Stands where a Ray actor handle's ``take`` is: ``take.remote(batch)`` records the batch, as submitted."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()
        self.take = self._Method(self, "take")
        self.call = self._Method(self, "call")

    class _Method:
        def __init__(self, owner: _Recorder, name: str) -> None:
            self.owner, self.name = owner, name

        def remote(self, *args: Any) -> None:
            with self.owner.lock:
                if self.name == "take":
                    self.owner.batches.append(list(args[0]))
                self.owner.calls.append((self.name, args))


def test_every_item_arrives_once_and_in_each_threads_order() -> None:
    head = _Recorder()
    outbox = HeadOutbox(head)
    mailbox, events = HeadMailbox(outbox), HeadEvents(outbox)

    def produce(thread: int) -> None:
        for index in range(500):
            if index % 2:
                mailbox.tell({"consumed": f"m{thread}", "n": index})
            else:
                events.append("turn_committed", member=f"m{thread}", n=index)
            if index % 97 == 0:
                outbox.flush()  # flushes race the flusher thread

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outbox.close()
    items = [item for batch in head.batches for item in batch]
    assert len(items) == 4 * 500
    for thread in range(4):
        mine = [item[1]["n"] if item[0] == "report" else item[2]["n"] for item in items
                if (item[1].get("consumed") if item[0] == "report" else item[2].get("member")) == f"m{thread}"]
        assert mine == list(range(500))
    assert len(head.batches) < len(items)  # bursts travel together


def test_a_question_to_the_supervisor_goes_after_what_was_queued() -> None:
    head = _Recorder()
    outbox = HeadOutbox(head, autoflush=False)  # only the proxy's own flush can send the event first
    try:
        HeadEvents(outbox).append("turn_committed", member="a")
        FlushingProxy(outbox, head, what="supervisor").route("envelope")
        names = [name for name, _ in head.calls]
        assert names.index("take") < names.index("call")
        assert head.calls[names.index("call")][1] == ("route", ("envelope",))
    finally:
        outbox.close()
