"""Hot-path ids: event ids are canonical UUIDs (upstream's SDK rejects anything else), every id is unique,
and a forked process makes ids of its own."""

from __future__ import annotations

import os
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from mobkat.ids import new_event_id, new_message_id
from mobkat.session.events import EventHub
from mobkat.wire.events import SessionEvent


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=2_000))
def test_event_ids_are_canonical_version_4_uuids_and_unique(count: int) -> None:
    ids = [new_event_id() for _ in range(count)]
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id  # canonical: lowercase, hyphenated
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == count


def test_message_and_event_ids_never_repeat_across_kinds() -> None:
    made = [new_message_id() for _ in range(500)] + [new_event_id().replace("-", "") for _ in range(500)]
    assert len(set(made)) == len(made)


def test_the_hub_stamps_events_with_such_ids() -> None:
    envelope = EventHub().publish("s1", SessionEvent(type="text_delta", delta="hi"))
    assert str(uuid.UUID(envelope.event_id)) == envelope.event_id


def test_a_forked_process_draws_a_new_prefix() -> None:
    before_event, before_message = new_event_id(), new_message_id()
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(writer, f"{new_event_id()} {new_message_id()}".encode())
        os._exit(0)
    os.close(writer)
    in_child = os.read(reader, 128).decode().split()
    os.close(reader)
    os.waitpid(child, 0)
    after_event, after_message = new_event_id(), new_message_id()
    assert in_child[0][:18] != after_event[:18] and after_event[:18] == before_event[:18]
    assert in_child[1][:16] != after_message[:16] and after_message[:16] == before_message[:16]
