"""A session keeps its committed history in memory: read from the store once, equal to it after every commit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from mobkat.actor import SessionHandle
from mobkat.config import MobkatConfig
from mobkat.errors import InvalidInputError
from mobkat.history import AssistantBlock, BlockAssistantRow, HistoryRow, SystemNoticeRow, UserRow
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import TextChunk
from mobkat.mob import Mob, MobDefinition
from mobkat.providers.chat import chat_request_body, encode_json, history_to_chat_messages, messages_json
from mobkat.session import Session, SessionServices
from mobkat.session.session import notice
from mobkat.simulator import Simulator, ToolRule
from mobkat.store import CommittedTurn, SessionMeta, SessionStore, SqliteSessionStore
from tests.session.conftest import GatedTool


class CountingStore:
    """A ``SessionStore`` that counts history reads and commits, passing everything to the store it wraps."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.history_reads = 0
        self.commits = 0

    def create_session(self, meta: SessionMeta) -> None:
        self.inner.create_session(meta)

    def get_session(self, session_id: str) -> SessionMeta | None:
        return self.inner.get_session(session_id)

    def update_session(self, meta: SessionMeta) -> None:
        self.inner.update_session(meta)

    def list_sessions(self, *, include_archived: bool = False) -> list[SessionMeta]:
        return self.inner.list_sessions(include_archived=include_archived)

    def archive_session(self, session_id: str) -> None:
        self.inner.archive_session(session_id)

    def commit_turn(self, session_id: str, rows: Sequence[HistoryRow], *, meta: SessionMeta | None = None,
                    turn_id: str | None = None) -> CommittedTurn:
        self.commits += 1
        return self.inner.commit_turn(session_id, rows, meta=meta, turn_id=turn_id)

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> list[HistoryRow]:
        self.history_reads += 1
        return self.inner.history(session_id, offset=offset, limit=limit)

    def message_count(self, session_id: str) -> int:
        return self.inner.message_count(session_id)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def counted(simulator: Simulator, tmp_path: Path) -> Iterator[tuple[CountingStore, SessionServices]]:
    store = CountingStore(SqliteSessionStore(tmp_path / "sessions.db"))
    services = SessionServices(store=store, config=MobkatConfig(), simulator_base_url=simulator.base_url).start()
    yield store, services
    services.close()
    store.close()


def exchange(i: int) -> list[HistoryRow]:
    return [UserRow(content=f"filler message {i}"),
            BlockAssistantRow(blocks=[AssistantBlock.text(f"You said: filler message {i}")])]


def assert_in_sync(session: Session, store: SessionStore) -> None:
    """What the session holds is what the store holds, and what a reload of the session reads."""
    stored = store.history(session.id)
    assert session.history() == stored
    assert session.message_count == store.message_count(session.id) == len(stored)
    assert Session.load(session.services, session.id).history() == stored


def test_turns_never_reread_the_store(counted: tuple[CountingStore, SessionServices]) -> None:
    store, services = counted
    created = Session.create(services, model="gpt-5.5", instructions="Be brief.")
    created.run_turn("remember the codeword amber lantern")
    assert store.history_reads == 0  # a new session's history is known to be empty
    session = Session.load(services, created.id)
    assert store.history_reads == 1  # loading reads it once
    for i in range(6):
        session.run_turn(f"turn {i}")
    assert session.run_turn("which codeword should you remember?").text == "You asked me to remember: amber lantern."
    assert session.history(0, 4)[2].text == "turn 0"  # history() reads memory too
    assert store.history_reads == 1
    assert store.commits == 1 + 7


def test_a_deferred_history_is_read_once_on_first_use_on_the_thread_that_uses_it(
        counted: tuple[CountingStore, SessionServices]) -> None:
    store, services = counted
    created = Session.create(services, model="gpt-5.5")
    created.run_turn("remember the codeword amber lantern")
    session = Session.load(services, created.id, defer_history=True)
    assert store.history_reads == 0 and not session.idle  # the metadata only
    readers: list[int] = []
    worker = threading.Thread(target=lambda: readers.append(session.message_count))
    worker.start()
    worker.join(10)
    assert readers == [2] and store.history_reads == 1  # read by the first user, on its thread
    session.load_history()  # a no-op once loaded
    assert session.run_turn("which codeword should you remember?").text == "You asked me to remember: amber lantern."
    assert store.history_reads == 1
    assert_in_sync(session, store)


def test_the_request_is_the_cached_projection_of_the_history(services: SessionServices, simulator: Simulator) -> None:
    session = Session.create(services, model="gpt-5.5", instructions="Be brief.")
    for i in range(3):
        session.run_turn(f"hello {i}")
    staged = [UserRow(content="next")]
    expected = history_to_chat_messages("Be brief.", [*session.history(), *staged])
    assert session.chat_messages(staged) == expected
    body = {"model": "gpt-5.5", "messages": expected, "stream": True, "stream_options": {"include_usage": True}}
    assert session.chat_request(staged) == encode_json(body)  # byte for byte what the SDK would send
    session.run_turn("next")
    assert simulator.stats.chat_requests[-1] == body


def test_the_request_json_is_kept_across_commits_and_equals_a_fresh_encoding(
        services: SessionServices, simulator: Simulator) -> None:
    """Rows of every kind, committed over several turns (tool calls, results, notices, non-ASCII): the kept
    JSON of the history equals encoding its messages from scratch, and a reloaded session builds the same."""
    from mobkat.session import ToolRegistry, make_tool

    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city} ☀"

    simulator.add_tool_rule(ToolRule(pattern=r"weather in (\w+)", tool="weather", arguments={"city": "{1}"}))
    tools = ToolRegistry()
    tools.add(make_tool(weather))
    session = Session.create(services, model="gpt-5.5", tools=tools, instructions="Réponds brièvement.")
    for text in ("weather in Oslo", "naïve café ünïcode", "weather in Bergen"):
        session.run_turn(text)
        session.run_turn(notice("Peer message from boss:\nquoted \"text\" and \\ slashes"))
    assert {"user", "system_notice", "block_assistant", "tool_results"} <= {row.role for row in session.history()}
    staged = [UserRow(content="last")]
    body = session.chat_request(staged)
    fresh = chat_request_body("gpt-5.5", messages_json(session.chat_messages(staged)), tools.specs())
    assert body == fresh
    reloaded = Session.load(services, session.id, tools=tools)
    assert reloaded.chat_request(staged) == body
    assert json.loads(body)["tools"] == tools.specs()


def test_tool_loop_and_steering_commit_in_sync(services: SessionServices, gated_tool: GatedTool) -> None:
    tools, entered, release = gated_tool.tools, gated_tool.entered, gated_tool.release
    session = Session.create(services, model="gpt-5.5", tools=tools)
    session.run_turn("hello")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(session.run_turn("slow please")))
    worker.start()
    assert entered.wait(10)
    assert session.steer(notice("Peer message from boss:\nalso this"))
    release.set()
    worker.join(20)
    assert outcome and not session.running
    rows = session.history()
    assert [r.role for r in rows[2:]] == ["user", "block_assistant", "tool_results", "system_notice",
                                          "block_assistant"]
    assert_in_sync(session, services.store)


def test_a_repeated_turn_id_is_not_appended_twice(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    rows = exchange(0)
    first = session.commit(rows, turn_id="t-0")
    session.commit(exchange(1), turn_id="t-1")
    again = session.commit(rows, turn_id="t-0")  # a retried commit: the store returns the original
    assert again == first and session.message_count == 4
    assert_in_sync(session, services.store)


def test_rows_another_writer_committed_are_picked_up_at_the_next_commit(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    session.commit(exchange(0))
    other = Session.load(services, session.id)  # e.g. a straggling commit of a dead incarnation
    other.commit(exchange(1))
    session.commit(exchange(2))
    assert [r.text for r in session.history() if isinstance(r, UserRow)] == [
        "filler message 0", "filler message 1", "filler message 2"]
    assert_in_sync(session, services.store)


def test_committed_rows_are_private_copies(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    block = AssistantBlock.tool_use("call_1", "lookup", {"city": "Oslo"})
    session.commit([UserRow(content="weather?"), BlockAssistantRow(blocks=[block], stop_reason="tool_use")])
    block.data["args"]["city"] = "changed after the commit"  # the caller's objects are not the history's
    assert_in_sync(session, services.store)


def test_live_turns_and_injected_peer_messages_commit_in_sync(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-realtime-2")
    handle = SessionHandle.start(session)
    try:
        handle.run_turn("hello")  # a short-lived realtime connection
        stream = ObservationStream()
        opened = handle.live_open(observer=stream)
        assert opened.continuity.mode == "transcript_only" and opened.continuity.seeded_messages == 2
        live = handle.run_turn("remember the codeword amber lantern")  # through the open channel
        assert live.text == "Okay, I will remember: amber lantern."
        injected = handle.run_turn([notice("Peer message from boss:\nlunch at noon")])
        assert injected.text == "boss says: lunch at noon"
        handle.live_send_input(opened.channel_id, TextChunk(text="typed into the channel"))
        for _ in range(3):  # the two turns above, then the typed one
            stream.wait_for("turn_completed")
        assert handle.live_inject(notice("Peer message from cook:\nsoup is ready"), True)  # how members inject
        stream.wait_for("turn_completed")
        handle.live_close(opened.channel_id)
        assert session.message_count == 10
        assert isinstance(session.history()[4], SystemNoticeRow) and isinstance(session.history()[8], SystemNoticeRow)
        assert_in_sync(session, services.store)
    finally:
        handle.stop()


def test_a_restarted_mob_member_reloads_its_history_from_the_store(services: SessionServices) -> None:
    definition = MobDefinition.from_dict({"id": "team", "profiles": {
        "worker": {"model": "gpt-5.5", "runtime_mode": "turn_driven"}}})
    with Mob(definition, services=services).start() as mob:
        mob.spawn("worker")
        mob.send("worker", "remember the codeword amber lantern")
        mob.wait_idle(10)
        cursor = mob.events_log.latest
        mob.member("worker").crash("injected")
        mob.wait_for_event(lambda e: e.type == "member_restarted", after=cursor, timeout=10)
        mob.send("worker", "what codeword did I ask you to remember?")
        mob.wait_idle(10)
        member = mob.member("worker").session()
        session_id = member.session_info()["session_id"]
        stored = services.store.history(session_id)
        assert member.history() == stored and len(stored) == 4
        assert stored[-1].text == "You asked me to remember: amber lantern."


def test_readers_on_other_threads_see_whole_commits(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    done = threading.Event()
    per_reader: list[list[list[HistoryRow]]] = [[], []]

    def read(seen: list[list[HistoryRow]]) -> None:
        while not done.is_set():
            snapshot = session.history()
            if not seen or len(snapshot) != len(seen[-1]):
                seen.append(snapshot)

    readers = [threading.Thread(target=read, args=(seen,)) for seen in per_reader]
    for reader in readers:
        reader.start()
    for i in range(20):
        session.commit(exchange(i))
    done.set()
    for reader in readers:
        reader.join(10)
    final = session.history()
    snapshots = [snapshot for seen in per_reader for snapshot in seen]
    assert len(snapshots) > 2 and all(len(s) % 2 == 0 and s == final[:len(s)] for s in snapshots)  # whole turns


def test_history_pages_match_the_store(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    for i in range(12):
        session.commit(exchange(i))
    everything = session.history()
    for offset in range(0, 27):
        for limit in (None, *range(0, 27)):
            expected = services.store.history(session.id, offset=offset, limit=limit)
            assert session.history(offset, limit) == expected
            assert expected == everything[offset:None if limit is None else offset + limit]


def test_negative_pages_are_refused(services: SessionServices) -> None:
    session = Session.create(services, model="gpt-5.5")
    with pytest.raises(InvalidInputError, match="offset"):
        session.history(-1)
    with pytest.raises(InvalidInputError, match="limit"):
        session.history(0, -2)
