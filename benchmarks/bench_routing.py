"""Peer routing: messages/s member → supervisor → member through a real, simulator-backed ``Mob``.

Measured: from the first ``send_peer``/``send_peer_nowait`` call until the receiving member actor has
taken the last message into its inbox. The receiver is held inside a turn (its ``hold`` tool waits on a
gate), so each delivery only queues: the window holds routing and delivery, not model turns. The end is
found by two asks, to the supervisor (every route done) and then to the receiver (every delivered ``Envelope``
handled; ``info()["queued"]`` must equal the number sent). Then the gate opens, the queued messages are
consumed by one coalesced turn and the mob goes idle, outside the clock.

Baseline, same shape and end detection: a relay actor (standing for the supervisor) that tells a
sink actor (the member), two bare pykka ``ThreadingActor``s, driven with ``tell`` and with ``ask``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal

import pykka

from benchmarks.common import Row, Settings, Stats, Target, interleave, make_row
from mobkat.mob import Mob, MobDefinition
from mobkat.simulator import ToolRule

Mode = Literal["tell", "ask"]
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven"}
HOLD_LIMIT_S = 25.0  # below the session's 30 s tool timeout: a forgotten gate cannot hang anything
_gate = threading.Event()
_held = threading.Event()


def hold() -> str:
    """Stay busy in this turn until the benchmark opens the gate."""
    _held.set()
    _gate.wait(HOLD_LIMIT_S)
    return "released"


class _Ping:
    """Ask a raw actor for nothing: it answers after everything told to it before."""


class _Count:
    """Ask the sink how many messages it has taken."""


class _Sink(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Count):
            return self.count
        self.count += 1
        return None


class _Relay(pykka.ThreadingActor):
    def __init__(self, sink: pykka.ActorRef[_Sink]) -> None:
        super().__init__()
        self.sink = sink

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, _Ping):
            self.sink.tell(message)
        return None


class RawRig:
    """Two bare pykka actors: driver → relay → sink."""

    def __init__(self) -> None:
        self.sink = _Sink.start()
        self.relay = _Relay.start(self.sink)

    def run(self, messages: int, mode: Mode) -> float:
        """Seconds to push ``messages`` through relay to sink, the last one taken."""
        bodies = [f"message {i}" for i in range(messages)]
        before: int = self.sink.ask(_Count(), block=True, timeout=30)
        send = self.relay.tell if mode == "tell" else self.relay.ask
        gc.collect()  # garbage of earlier runs is not charged to this one
        start = time.perf_counter()
        for body in bodies:
            send(body)
        self.relay.ask(_Ping(), block=True, timeout=30)
        taken: int = self.sink.ask(_Count(), block=True, timeout=30)
        elapsed = time.perf_counter() - start
        if taken - before != messages:
            raise RuntimeError(f"raw pykka: sink took {taken - before} of {messages} messages")
        return elapsed

    def close(self) -> None:
        self.relay.stop()
        self.sink.stop()


class MobRig:
    """A mob with one sender member and, per run, a fresh receiver member held busy in a turn."""

    def __init__(self) -> None:
        definition = MobDefinition.from_dict({"id": "bench-routing", "profiles": {
            "sender": TEXT, "receiver": {**TEXT, "tools": {"python": ["benchmarks.bench_routing:hold"]}}}})
        self.mob = Mob(definition, simulator=True, inbox_capacity=1_000_000)
        self._runs = 0

    def __enter__(self) -> MobRig:
        self.mob.start()
        assert self.mob.simulator is not None
        self.mob.simulator.add_tool_rule(ToolRule(pattern=r"^hold the line$", tool="hold"))
        self.mob.spawn("sender", "a")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _gate.set()
        self.mob.stop()

    def run(self, messages: int, mode: Mode) -> float:
        """Seconds from the first send to the receiver having every message in its inbox."""
        mob = self.mob
        self._runs += 1
        name = f"inbox{self._runs}"
        mob.spawn("receiver", name)
        mob.wire("a", name)
        _gate.clear()
        _held.clear()
        mob.send(name, "hold the line")
        if not _held.wait(10):
            raise RuntimeError(f"receiver {name} never entered its hold tool")
        receiver = mob.member(name)
        if receiver.info()["queued"] != 0:
            raise RuntimeError(f"receiver {name} has queued messages before the run")
        bodies = [f"message {i}" for i in range(messages)]
        send = mob.send_peer_nowait if mode == "tell" else mob.send_peer
        gc.collect()
        start = time.perf_counter()
        for body in bodies:
            send("a", name, body)
        mob.members()  # the supervisor answers after it has routed every message before this ask
        queued = receiver.info()["queued"]  # the receiver answers after every delivery before this ask
        elapsed = time.perf_counter() - start
        if queued != messages:
            raise RuntimeError(f"mob: receiver {name} has {queued} of {messages} messages in its inbox")
        self._discard(name)
        return elapsed

    def _discard(self, name: str) -> None:
        """Retire the receiver with its inbox full, let its held turn end, and wait until that turn is
        committed, so that no work of this run spills into the next one. (Consuming the inbox would be one
        model turn over every queued message: model cost, not routing, and seconds of it in the openai SDK.)"""
        handle = self.mob.member(name)
        self.mob.retire(name)
        _gate.set()
        deadline = time.monotonic() + 30
        while not handle.history():  # a retired member's history stays readable; the turn commits at its end
            if time.monotonic() > deadline:
                raise RuntimeError(f"the held turn of {name} did not commit within 30 s")
            time.sleep(0.002)


def rate(run: Callable[[int, Mode], float], messages: int, mode: Mode) -> Callable[[], float]:
    """A sampler for :func:`interleave`: messages per second of one run."""
    return lambda: messages / run(messages, mode)


def run(settings: Settings) -> list[Row]:
    messages = settings.pick(1000, 5000)
    repeats = settings.pick(5, 15)
    raw = RawRig()
    try:
        with MobRig() as rig:
            samples = interleave({
                "raw_tell": rate(raw.run, messages, "tell"),
                "mob_tell": rate(rig.run, messages, "tell"),
                "raw_ask": rate(raw.run, messages, "ask"),
                "mob_ask": rate(rig.run, messages, "ask"),
            }, repeats=repeats)
    finally:
        raw.close()
    stats = {name: Stats.of(values, "higher") for name, values in samples.items()}
    unit = "msg/s"
    return [
        make_row("routing.peer", unit, stats["mob_tell"], stats["raw_tell"], "raw pykka tell",
                 Target("ratio", ">=", 0.5),
                 note=f"Mob.send_peer_nowait, {messages} messages/run: first send -> last message in the "
                      "receiver's inbox (receiver held in a turn)"),
        make_row("routing.peer_ask", unit, stats["mob_ask"], stats["raw_ask"], "raw pykka ask",
                 Target("ratio", ">=", 0.5),
                 note=f"Mob.send_peer (one ask per message, what comms tools do), {messages} messages/run; "
                      f"vs raw pykka tell: {stats['mob_ask'].median / stats['raw_tell'].median:.2f}x"),
    ]
