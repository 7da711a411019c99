"""History size: what a turn, a live channel's seed and the memory of a session cost as the history grows.

One ``Session`` on ``gpt-5.5`` with a SQLite store and the in-process simulator, loaded (``Session.load``,
the one read of its history) after its rows were written straight through the store (``commit_turn``
in batches of 1,000). Every round runs one ``run_turn`` and, right after it, the baseline on what that
turn sent:

``history.turn_<N>`` (100, 1k, 10k, 50k rows): mobkat's own work per turn, in ms: the turn's wall time
minus the provider's time (the simulator's ``stats.chat_served``: from its first byte of parsing to the
last byte of its answer) minus the store's durable commit (``commit_turn``, an fsync; its own row).
It includes the openai SDK's own per-call work (mobkat's turn as a user sees it). Baseline: ``json.dumps``
of the request body the simulator received for that turn. The note adds the I/O loop thread's CPU time
per turn (``time.thread_time``; the commit runs on a worker thread, and its CPU is subtracted only if it ran
on the loop): the same work without waits. Each timed sample follows a ``gc.collect()`` (no collection in it,
and the CPU caches cold); at 100 rows the note adds turns run back to back without one (warm), each with the
bare SDK post of its body.

``history.turn_100_added``: the same figure at 100 rows against the bare openai SDK sending the same
body bytes (``client.post`` with the SDK's raw-stream switch, the stream read to its end, on the same loop;
its wall time minus the provider's): what mobkat adds to the client it uses (the SDK over aiohttp, as
``ClientPool`` builds it). The note gives the SDK's typed call of the same body (``chat.completions.create``,
stream iterated) and the same post through the SDK's default ``httpx2`` transport, for comparison.

``history.turn_total_10k``: the whole turn at 10k rows, provider and commit included. Baseline: the whole
bare SDK call of the same body bytes.

``history.commit``: ``commit_turn`` of a turn's two rows. Baseline: a bare SQLite transaction (WAL,
``synchronous=FULL``) inserting two blobs of the same size.

``history.live_open_10k``: ``SessionHandle.live_open()`` on a ``gpt-realtime-2`` session of 10k rows
(default seed window), until the channel is ready and the seed is on the provider socket. Baseline: the
same open on a session of 2 rows.

``history.memory_10k``: KiB that loading 10,000 rows (decoded rows plus the kept JSON of their Chat
Completions messages) adds to the Python heap (``tracemalloc``). Baseline: the rows' JSON wire size.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import Row, Settings, Stats, Target, make_row

SIZES = {"100": 100, "1k": 1_000, "10k": 10_000, "50k": 50_000}
ROW_ORDER = ["history.turn_100", "history.turn_100_added", "history.turn_1k", "history.turn_10k", "history.turn_50k",
             "history.turn_total_10k", "history.commit", "history.live_open_10k", "history.memory_10k"]
BATCH = 1_000


class TimedStore:
    """A ``SessionStore`` that times ``commit_turn`` and counts history reads (delegates everything)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.last_commit_s = 0.0
        self.last_commit_cpu_s = 0.0
        self.last_commit_thread = 0
        self.history_reads = 0

    def create_session(self, meta: Any) -> None:
        self.inner.create_session(meta)

    def get_session(self, session_id: str) -> Any:
        return self.inner.get_session(session_id)

    def update_session(self, meta: Any) -> None:
        self.inner.update_session(meta)

    def list_sessions(self, *, include_archived: bool = False) -> Any:
        return self.inner.list_sessions(include_archived=include_archived)

    def archive_session(self, session_id: str) -> None:
        self.inner.archive_session(session_id)

    def commit_turn(self, session_id: str, rows: Sequence[Any], *, meta: Any = None, turn_id: str | None = None) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return self.inner.commit_turn(session_id, rows, meta=meta, turn_id=turn_id)
        finally:
            self.last_commit_s = time.perf_counter() - start
            self.last_commit_cpu_s = time.thread_time() - cpu
            self.last_commit_thread = threading.get_ident()

    def history(self, session_id: str, *, offset: int = 0, limit: int | None = None) -> Any:
        self.history_reads += 1
        return self.inner.history(session_id, offset=offset, limit=limit)

    def message_count(self, session_id: str) -> int:
        count: int = self.inner.message_count(session_id)
        return count

    def close(self) -> None:
        self.inner.close()


def history_rows(count: int) -> list[Any]:
    """``count`` rows of alternating questions and answers (~80 characters each)."""
    from mobkat.history import AssistantBlock, BlockAssistantRow, Usage, UserRow

    rows: list[Any] = []
    for i in range(count // 2):
        question = f"message {i}: what is the weather like in Oslo today, and do I need an umbrella?"
        rows.append(UserRow(content=question))
        rows.append(BlockAssistantRow(blocks=[AssistantBlock.text(f"You said: {question}")],
                                      usage=Usage(input_tokens=20, output_tokens=22, total_tokens=42)))
    return rows


def prepopulate(store: Any, session_id: str, model: str, rows: Sequence[Any]) -> None:
    """A session whose history is ``rows``, written straight through the store."""
    from mobkat.store import SessionMeta

    provider = "openai"
    store.create_session(SessionMeta(session_id=session_id, model=model, provider=provider))
    for start in range(0, len(rows), BATCH):
        store.commit_turn(session_id, rows[start:start + BATCH])


async def loop_cpu() -> float:
    """CPU seconds the I/O loop's thread has used so far (run on that loop)."""
    return time.thread_time()


async def loop_thread() -> int:
    """The I/O loop's thread (the commit runs on a worker thread: its CPU is not the loop's)."""
    return threading.get_ident()


def ms(samples: Sequence[float]) -> Stats:
    return Stats.of([s * 1000 for s in samples], "lower")


class HistoryBench:
    """The simulator, one state directory, and the measurements of one run."""

    def __init__(self, settings: Settings, sim: Any, root: Path) -> None:
        self.settings, self.sim, self.root = settings, sim, root
        self.rows: list[Row] = []
        self.commits: list[float] = []
        self.bare_commits: list[float] = []
        self.blob_size = 0
        self.bare: sqlite3.Connection | None = None
        self.httpx2_client: Any = None  # the SDK's default transport, for the 100-row note (one loop: turns' own)
        self.chats = 0  # chat requests sent so far (each turn here makes one model call)

    def provider_s(self) -> float:
        """The provider's time for the next chat request served: call once after each call that made one (the
        simulator records it a moment after the client has read the last byte)."""
        self.chats += 1
        served: float = self.sim.stats.chat_served_number(self.chats, 30).seconds
        return served

    def services(self, store: Any) -> Any:
        from mobkat.config import MobkatConfig
        from mobkat.session import SessionServices

        return SessionServices(store=store, config=MobkatConfig(), simulator_base_url=self.sim.base_url).start()

    # -- turns -------------------------------------------------------------------------------------------
    def turns(self, label: str, size: int) -> None:
        from mobkat.session import Session
        from mobkat.store import SqliteSessionStore

        store = TimedStore(SqliteSessionStore(self.root / f"turns-{label}.db"))
        services = self.services(store)
        try:
            prepopulate(store, f"s{label}", "gpt-5.5", history_rows(size))
            loaded_at = time.perf_counter()
            session = Session.load(services, f"s{label}")
            load_s = time.perf_counter() - loaded_at
            for i in range(2):
                session.run_turn(f"warm-up {i}")
                self.provider_s()
            rounds = self.settings.pick(5, 30) if size < 50_000 else self.settings.pick(3, 10)
            create_own: list[float] = []
            httpx_own: list[float] = []
            own, totals, served, dumps, direct, direct_own, cpu = [], [], [], [], [], [], []
            for round_index in range(rounds):
                gc.collect()
                cpu_before = services.runtime.run(loop_cpu(), 10)
                start = time.perf_counter()
                session.run_turn(f"turn {round_index}: and tomorrow?")
                total = time.perf_counter() - start
                cpu_after = services.runtime.run(loop_cpu(), 10)
                on_loop = store.last_commit_thread == services.runtime.run(loop_thread(), 10)
                cpu.append(cpu_after - cpu_before - (store.last_commit_cpu_s if on_loop else 0.0))
                provider = self.provider_s()
                self.commits.append(store.last_commit_s)
                own.append(total - provider - store.last_commit_s)
                totals.append(total)
                served.append(provider)
                body = self.sim.stats.chat_requests[-1]
                gc.collect()
                start = time.perf_counter()
                json.dumps(body)
                dumps.append(time.perf_counter() - start)
                self.bare_commits.append(self.bare_commit())
                if size in (100, 10_000):  # the same body through the bare openai SDK, on the same loop
                    direct.append(services.runtime.run(self.sdk_direct(services, body), 60))
                    direct_own.append(direct[-1] - self.provider_s())
                    if size == 100:
                        httpx_own.append(services.runtime.run(self.sdk_direct(services, body, httpx2_default=True), 60)
                                         - self.provider_s())
                        create_own.append(services.runtime.run(self.sdk_create(services, body), 60)
                                          - self.provider_s())
            warm, warm_sdk = self.warm_turns(services, session, store, rounds) if size == 100 else ([], [])
            note = (f"{size:,} rows: run_turn wall {statistics.median(totals) * 1000:.1f} ms - provider (simulator) "
                    f"{statistics.median(served) * 1000:.1f} ms - commit_turn "
                    f"{statistics.median(self.commits[-rounds:]) * 1000:.1f} ms; I/O-loop CPU per turn "
                    f"{statistics.median(cpu) * 1000:.2f} ms (commit's excluded); Session.load {load_s * 1000:.0f} ms "
                    f"(store history reads in the run: {store.history_reads})")
            if warm:
                note += (f"; turns back to back, none after a gc.collect() (whose walk of the heap leaves the CPU "
                         f"caches cold): {statistics.median(warm) * 1000:.2f} ms, the bare SDK post of the same bytes "
                         f"so: {statistics.median(warm_sdk) * 1000:.2f} ms")
            target = {100: Target("mobkat", "<=", 1, "ms"), 10_000: Target("ratio", "<=", 2)}.get(size)
            self.rows.append(make_row(f"history.turn_{label}", "ms", ms(own), ms(dumps), "json.dumps of the request",
                                      target, note))
            if size == 100:
                self.rows.append(make_row(
                    "history.turn_100_added", "ms", ms(own), ms(direct_own), "openai SDK post, same bytes",
                    Target("added", "<=", 1, "ms"),
                    "100 rows: mobkat's own work per turn (as above) vs the bare SDK sending the same body bytes "
                    "(client.post, raw stream read to the end; its wall time - the provider's): what mobkat adds "
                    f"to the provider client it uses (the SDK over aiohttp, as mobkat builds it). The SDK's typed call "
                    f"of the same body (chat.completions.create, stream iterated): "
                    f"{statistics.median(create_own) * 1000:.2f} ms; the same post through the SDK's default httpx2 "
                    f"transport: {statistics.median(httpx_own) * 1000:.2f} ms"))
            if size == 10_000:
                self.rows.append(make_row(
                    "history.turn_total_10k", "ms", ms(totals), ms(direct), "openai SDK post, same bytes",
                    Target("mobkat", "<=", 50, "ms"),
                    "10,000 rows: the whole run_turn (request, simulator, stream, commit) vs the bare SDK call of "
                    "the same body on the same loop (no history, no commit)"))
        finally:
            if self.httpx2_client is not None:
                services.runtime.run(self.httpx2_client.close(), 10)
                self.httpx2_client = None
            services.close()
            store.close()

    def warm_turns(self, services: Any, session: Any, store: TimedStore,
                   rounds: int) -> tuple[list[float], list[float]]:
        """mobkat's own work (as in the rounds) of turns run back to back, with no ``gc.collect()`` between them;
        and the bare SDK's post of each turn's body, so."""
        own, sdk = [], []
        for round_index in range(rounds * 2):
            start = time.perf_counter()
            session.run_turn(f"warm turn {round_index}: and tomorrow?")
            total = time.perf_counter() - start
            own.append(total - self.provider_s() - store.last_commit_s)
            body = self.sim.stats.chat_requests[-1]
            sdk.append(services.runtime.run(self.sdk_direct(services, body, collect=False), 60) - self.provider_s())
        return own, sdk

    async def sdk_direct(self, services: Any, body: dict[str, Any], *, httpx2_default: bool = False,
                         collect: bool = True) -> float:
        """Seconds for the bare openai SDK to send ``body`` (encoded beforehand) and read the streamed answer to
        its end: ``client.post`` with the SDK's raw-stream switch, the lightest call the SDK offers. The client is
        mobkat's (the SDK over aiohttp) or, with ``httpx2_default``, one with the SDK's default transport."""
        from openai import AsyncOpenAI

        from mobkat.providers.chat import RAW_STREAM, encode_json

        client = services.client_for("openai")
        if httpx2_default:
            if self.httpx2_client is None:
                self.httpx2_client = AsyncOpenAI(api_key="sk-bench", base_url=self.sim.base_url, max_retries=2)
            client = self.httpx2_client
        content = encode_json(body)
        if collect:
            gc.collect()
        start = time.perf_counter()
        response = await client.post("/chat/completions", cast_to=object, content=content,
                                     options={"headers": RAW_STREAM})
        async for _line in response.iter_lines():
            pass
        await response.close()
        return time.perf_counter() - start

    async def sdk_create(self, services: Any, body: dict[str, Any]) -> float:
        """Seconds for the SDK's typed call to send ``body``'s messages and iterate the streamed chunks."""
        client = services.client_for("openai")
        gc.collect()
        start = time.perf_counter()
        stream = await client.chat.completions.create(model=body["model"], messages=[], stream=True,
                                                      extra_body={"messages": body["messages"]},
                                                      stream_options={"include_usage": True})
        async for _chunk in stream:
            pass
        return time.perf_counter() - start

    def bare_commit(self) -> float:
        """One bare SQLite transaction of two blobs the size of a turn's rows (WAL, synchronous=FULL)."""
        if self.bare is None:
            self.bare = sqlite3.connect(self.root / "bare.db", isolation_level=None, check_same_thread=False)
            self.bare.execute("PRAGMA journal_mode = WAL")
            self.bare.execute("PRAGMA synchronous = FULL")
            self.bare.execute("CREATE TABLE rows (seq INTEGER PRIMARY KEY, row BLOB NOT NULL)")
        blob = b"x" * (self.blob_size or 200)
        gc.collect()
        start = time.perf_counter()
        self.bare.execute("BEGIN IMMEDIATE")
        self.bare.executemany("INSERT INTO rows (row) VALUES (?)", [(blob,), (blob,)])
        self.bare.execute("COMMIT")
        return time.perf_counter() - start

    # -- live open -----------------------------------------------------------------------------------------
    def live_open(self) -> None:
        from mobkat.actor import SessionHandle
        from mobkat.session import Session
        from mobkat.store import SqliteSessionStore

        store = SqliteSessionStore(self.root / "live.db")
        services = self.services(store)
        handles = []
        try:
            for session_id, size in (("long", 10_000), ("short", 2)):
                prepopulate(store, session_id, "gpt-realtime-2", history_rows(size))
                handles.append(SessionHandle.start(Session.load(services, session_id)))
            samples: dict[str, list[float]] = {"long": [], "short": []}
            seeded = 0
            for round_index in range(1 + self.settings.pick(3, 10)):
                for (name, series), handle in zip(samples.items(), handles, strict=True):
                    gc.collect()
                    start = time.perf_counter()
                    opened = handle.live_open()
                    elapsed = time.perf_counter() - start
                    if name == "long":
                        seeded = opened.continuity.seeded_messages
                    handle.live_close(opened.channel_id)
                    if not self.sim.stats.wait_for(lambda s: s.open_connections == 0, 30):
                        raise RuntimeError("the simulator kept a live connection open")
                    if round_index:
                        series.append(elapsed)
            from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS

            self.rows.append(make_row(
                "history.live_open_10k", "ms", ms(samples["long"]), ms(samples["short"]), "the same open at 2 rows",
                None, f"live_open (connect, session.update, seed) on 10,000 rows: the default seed window "
                      f"({DEFAULT_SEED_MAX_CHARS:,} characters) seeded the newest {seeded:,} rows"))
        finally:
            for handle in handles:
                handle.stop()
            services.close()
            store.close()

    # -- memory ----------------------------------------------------------------------------------------------
    def memory(self) -> None:
        from mobkat.history import row_to_wire
        from mobkat.session import Session
        from mobkat.store import SqliteSessionStore

        size = 10_000
        store = SqliteSessionStore(self.root / "memory.db")
        services = self.services(store)
        try:
            rows = history_rows(size)
            prepopulate(store, "memory", "gpt-5.5", rows)
            wire = sum(len(json.dumps(row_to_wire(row)).encode()) for row in rows) / 1024
            self.blob_size = int(wire * 1024 / size)
            loaded, cached = [], []
            for _ in range(self.settings.pick(1, 3)):
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                session = Session.load(services, "memory")
                gc.collect()
                rows_only = tracemalloc.get_traced_memory()[0]
                session.chat_request()
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                loaded.append((rows_only - before) / 1024)
                cached.append((after - rows_only) / 1024)
                del session
            total = [a + b for a, b in zip(loaded, cached, strict=True)]
            per_row = statistics.median(total) * 1024 / size
            self.rows.append(make_row(
                "history.memory_10k", "KiB", Stats.of(total, "lower"), Stats.of([wire], "lower"),
                "the rows' JSON wire size", None,
                f"a loaded session's history: decoded rows {statistics.median(loaded):,.0f} KiB + the kept JSON "
                f"of its Chat Completions messages {statistics.median(cached):,.0f} KiB = {per_row:.0f} bytes per row "
                f"(rows of ~80 characters)"))
        finally:
            services.close()
            store.close()

    def commit_row(self) -> None:
        self.rows.append(make_row(
            "history.commit", "ms", ms(self.commits), ms(self.bare_commits), "bare SQLite commit, 2 rows", None,
            "commit_turn of a turn's 2 rows (one transaction, WAL, synchronous=FULL: an fsync), every size; "
            "the baseline is the same transaction without mobkat"))


def run(settings: Settings) -> list[Row]:
    """Every history row: turns at 100 .. 50k rows, the 10k total, the commit, the live open, memory."""
    from mobkat.simulator import Simulator

    with tempfile.TemporaryDirectory(prefix="mobkat-bench-history-") as tmp, Simulator(record_frames=False) as sim:
        bench = HistoryBench(settings, sim, Path(tmp))
        bench.memory()
        for label, size in SIZES.items():
            bench.turns(label, size)
        bench.commit_row()
        bench.live_open()
        if bench.bare is not None:
            bench.bare.close()
    return sorted(bench.rows, key=lambda row: ROW_ORDER.index(row.name))


__all__ = ["SIZES", "TimedStore", "history_rows", "prepopulate", "run"]
