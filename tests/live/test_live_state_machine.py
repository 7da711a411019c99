"""Hypothesis state machine: whatever the caller does to a channel, committed history = acknowledged turns."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mobkat.actor import SessionHandle
from mobkat.config import MobkatConfig
from mobkat.errors import LiveProviderError
from mobkat.history import BlockAssistantRow, UserRow
from mobkat.live.channel import ReconnectPolicy
from mobkat.live.stream import ObservationStream
from mobkat.live.wire import TextChunk
from mobkat.session import Session, SessionServices
from mobkat.simulator import Simulator
from mobkat.store import MemorySessionStore
from tests.live.conftest import speak

WORDS = st.sampled_from(["amber", "lantern", "fig", "kiwi", "harbour", "comet"])
EXAMPLES = int(os.environ.get("MOBKAT_LIVE_STATEFUL_EXAMPLES", "6"))


class LiveChannelMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sim = Simulator(record_frames=False).start()
        self.services = SessionServices(store=MemorySessionStore(), config=MobkatConfig(),
                                        simulator_base_url=self.sim.base_url).start()
        session = Session.create(self.services, model="gpt-realtime-2")
        self.handle = SessionHandle.start(session, reconnect=ReconnectPolicy(attempts=5, initial_delay_s=0.01),
                                          truncate_grace_s=0.05)
        self.handle.run_turn("hello")
        self.expected: list[tuple[str, str | None]] = [("hello", "You said: hello")]
        self.channel_id: str | None = None
        self.stream = ObservationStream()
        self.counter = 0

    def teardown(self) -> None:
        self.handle.stop()
        self.services.close()
        self.sim.stop()

    def _word(self, word: str) -> str:
        self.counter += 1
        return f"{word} {self.counter}"

    @precondition(lambda self: self.channel_id is None)
    @rule()
    def open(self) -> None:
        self.stream = ObservationStream()
        self.channel_id = self.handle.live_open(observer=self.stream).channel_id

    @precondition(lambda self: self.channel_id is not None)
    @rule(word=WORDS)
    def send_text(self, word: str) -> None:
        text = self._word(word)
        assert self.channel_id is not None
        self.handle.live_send_input(self.channel_id, TextChunk(text=text))
        self.stream.wait_for("turn_completed")
        self.expected.append((text, f"You said: {text}"))

    @precondition(lambda self: self.channel_id is not None)
    @rule(word=WORDS)
    def speak(self, word: str) -> None:
        text = self._word(word)
        assert self.channel_id is not None
        speak(self.handle, self.channel_id, text)
        self.stream.wait_for("turn_completed")
        self.expected.append((text, f"You said: {text}"))

    @precondition(lambda self: self.channel_id is not None)
    @rule(word=WORDS)
    def send_and_interrupt(self, word: str) -> None:
        text = self._word(word)
        assert self.channel_id is not None
        self.sim.delay_events(0.02)
        self.handle.live_send_input(self.channel_id, TextChunk(text=text))
        self.handle.live_interrupt(self.channel_id)
        done = self.stream.wait_for("turn_completed")
        self.sim.delay_events(0)
        # acknowledged: the user row always; an assistant row only if something was spoken before the cut
        self.expected.append((text, None if done.committed_messages == 1 else "*"))

    @precondition(lambda self: self.channel_id is not None)
    @rule(word=WORDS)
    def drop_mid_turn(self, word: str) -> None:
        assert self.channel_id is not None
        self.sim.drop_connections_after(3)
        try:
            self.handle.live_send_input(self.channel_id, TextChunk(text=self._word(word)))
        except LiveProviderError as exc:  # the drop can hit the send itself: a typed "not delivered"
            assert exc.details["kind"] == "input_not_delivered"
        self.stream.wait_for(lambda o: o.observation == "status_changed" and o.status.status == "degraded")
        self.stream.wait_for("ready")  # the cut-off turn was never acknowledged: nothing expected

    @precondition(lambda self: self.channel_id is not None)
    @rule(instructions=WORDS)
    def refresh(self, instructions: str) -> None:
        assert self.channel_id is not None
        self.handle.set_instructions(f"Mention {instructions}.")
        self.handle.live_refresh(self.channel_id)

    @precondition(lambda self: self.channel_id is not None)
    @rule()
    def close(self) -> None:
        assert self.channel_id is not None
        assert self.handle.live_close(self.channel_id).status == "closed"
        self.channel_id = None

    @rule(word=WORDS)
    def request_response_turn(self, word: str) -> None:
        text = self._word(word)
        result = self.handle.run_turn(text)
        if self.channel_id is not None:  # the turn went through the channel: its observation is ours to consume
            assert self.stream.wait_for("turn_completed").committed_messages == 2
        self.expected.append((text, result.text))
        assert result.text == f"You said: {text}"

    @invariant()
    def history_equals_acknowledged_turns(self) -> None:
        rows = self.handle.history()
        actual: list[tuple[str, str | None]] = []
        for row in rows:
            if isinstance(row, UserRow):
                actual.append((row.text, None))
            elif isinstance(row, BlockAssistantRow):
                user, _ = actual[-1]
                actual[-1] = (user, row.text)
        assert len(actual) == len(self.expected), (actual, self.expected)
        for (user, reply), (want_user, want_reply) in zip(actual, self.expected, strict=True):
            assert user == want_user
            if want_reply == "*":
                assert reply is not None and f"You said: {user}".startswith(reply)
            else:
                assert reply == want_reply


LiveChannelMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=8, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLiveChannelMachine = LiveChannelMachine.TestCase
