"""Hypothesis state machine over a whole mob on the real RPC server (``mobkat rpc --tcp``).

Steps: spawn text and realtime members, operator messages, ``turn/start`` on member sessions, peer
relays ("ask the <peer>: ...?"), live text turns over a member's WebSocket, interrupts, socket drops
(the client closes the live WebSocket mid-turn, which closes the channel), respawns, and ``kill -9``
of the server with a restart on the same state root and realm. Invariant after every step: every
session's committed history (``session/history``) equals the turns acknowledged as committed (a
``turn_committed`` mob event, a ``turn/start`` result, or a live ``turn_completed`` observation).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mobkat.client import MobkatClient
from mobkat.client.live import LiveSocket
from mobkat.client.mob import MobHandle
from tests.hardening.mob_model import PEER_NOTICE, Expected, check, project
from tests.rpc.helpers import TcpServer

EXAMPLES = int(os.environ.get("MOBKAT_STATEFUL_EXAMPLES", "3"))
STEPS = int(os.environ.get("MOBKAT_MOB_STATEFUL_STEPS", "10"))
REALM = "hardening"
STEP_TIMEOUT_S = 30.0
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "external_addressable": True}
VOICE = {"model": "gpt-realtime-2", "runtime_mode": "turn_driven", "external_addressable": True,
         "live": {"open_on_spawn": False}}
WORDS = st.sampled_from(["amber", "lantern", "fig", "kiwi", "harbour", "comet"])
MAX_KILLS = 2  # a restart costs ~2 s (the server's start-up): bound them so 40 examples fit in minutes
TURNS_BEFORE_KILL = 3
T = TypeVar("T")


class Member:
    def __init__(self, identity: str, session_id: str, voice: bool) -> None:
        self.identity, self.session_id, self.voice = identity, session_id, voice
        self.socket: LiveSocket | None = None
        self.channel_id: str | None = None


class MobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.state = tempfile.mkdtemp(prefix="mobkat-mob-sm-")
        self.server: TcpServer | None = None
        self.client: MobkatClient | None = None
        self.mob: MobHandle | None = None
        self.cursor = 0
        self.members: dict[str, Member] = {}
        self.model: dict[str, list[Expected]] = {}  # session id → acknowledged turns
        self.counter = 0
        self.mobs = 0
        self.kills = 0
        self.acked_since_start = 0
        try:
            self._run(self._start_server())
            self._create_mob()
        except BaseException:
            self.teardown()  # hypothesis only tears down a machine that was built
            raise

    # -- plumbing ----------------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, STEP_TIMEOUT_S))

    def teardown(self) -> None:
        try:
            self._run(self._disconnect())
        finally:
            if self.server is not None:
                self.server.process.kill()
                self.server.process.wait()
            self.loop.close()
            shutil.rmtree(self.state, ignore_errors=True)

    async def _start_server(self) -> None:
        self.server = await asyncio.to_thread(TcpServer, [
            "--simulator", "--simulator-pace", "0.02", "--live-ws", "127.0.0.1:0",
            "--state-root", self.state, "--realm", REALM])
        self.client = await MobkatClient().connect(tcp=self.server.address)
        self.acked_since_start = 0

    async def _disconnect(self) -> None:
        for member in self.members.values():
            if member.socket is not None:
                with contextlib.suppress(Exception):
                    await member.socket.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        self.client, self.mob, self.members, self.cursor = None, None, {}, 0

    @property
    def rpc(self) -> MobkatClient:
        assert self.client is not None
        return self.client

    def _text(self, word: str) -> str:
        self.counter += 1
        return f"{word} {self.counter}"

    async def _turns(self, *wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The ``turn_committed`` events (``mob/events`` from our cursor) matching each predicate."""
        assert self.mob is not None
        found: list[dict[str, Any] | None] = [None] * len(wanted)
        while None in found:
            events = await self.mob.read_events(self.cursor)
            for event in events:
                self.cursor = event.cursor
                kind = event.kind.model_dump(mode="json")
                if kind["type"] != "turn_committed":
                    continue
                for index, match in enumerate(wanted):
                    if found[index] is None and match(kind):
                        found[index] = kind
                        break
            if not events:
                await asyncio.sleep(0.02)  # poll interval; STEP_TIMEOUT_S bounds the wait
        return [kind for kind in found if kind is not None]

    def _ack(self, session_id: str, *turns: Expected) -> None:
        self.acked_since_start += len(turns)
        self.model.setdefault(session_id, []).extend(turns)

    def _texts(self) -> list[Member]:
        return [m for m in self.members.values() if not m.voice]

    def _idle(self) -> list[Member]:
        return [m for m in self.members.values() if m.socket is None]

    def _live(self) -> list[Member]:
        return [m for m in self.members.values() if m.socket is not None]

    # -- rules -------------------------------------------------------------------------------------
    def _create_mob(self) -> None:
        self.mobs += 1
        definition = {"id": f"mob{self.mobs}", "profiles": {"text": TEXT, "voice": VOICE}}
        self.mob = self._run(self.rpc.create_mob(definition))
        self.cursor = 0
        for voice in (False, False, True):  # most rules are enabled from the first step
            self.spawn(voice, "hello")

    @precondition(lambda self: self.mob is not None and len(self.members) < 5)
    @rule(voice=st.booleans(), word=WORDS)
    def spawn(self, voice: bool, word: str) -> None:
        identity = f"{'v' if voice else 't'}{self.counter}"
        self.counter += 1

        async def go() -> None:
            assert self.mob is not None
            await self.mob.spawn("voice" if voice else "text", identity)
            member = Member(identity, (await self.mob.member(identity).info()).current_session_id, voice)
            self.members[identity] = member
            self.model.setdefault(member.session_id, [])
            if voice:  # a realtime member needs one turn before it can go live
                await self._send(member, self._text(word))

        self._run(go())

    async def _send(self, member: Member, text: str) -> None:
        assert self.mob is not None
        await self.mob.member(member.identity).send(text)
        [kind] = await self._turns(lambda k: k["member"] == member.identity and k["text"] == f"You said: {text}")
        self._ack(member.session_id, Expected(text, kind["text"]))

    @precondition(lambda self: self._idle())
    @rule(data=st.data(), word=WORDS)
    def operator_send(self, data: st.DataObject, word: str) -> None:
        member = data.draw(st.sampled_from(self._idle()))
        self._run(self._send(member, self._text(word)))

    def _quiet_sessions(self) -> list[str]:
        busy = {m.session_id for m in self._live()}
        return sorted(set(self.model) - busy)

    @precondition(lambda self: self._quiet_sessions())
    @rule(data=st.data(), word=WORDS)
    def turn_start(self, data: st.DataObject, word: str) -> None:
        """Any known session, also one whose mob died with a killed server (it is adopted again)."""
        session_id = data.draw(st.sampled_from(self._quiet_sessions()))
        text = self._text(word)
        result = self._run(self.rpc.start_turn(session_id, text))
        assert result.text == f"You said: {text}"
        self._ack(session_id, Expected(text, result.text))

    @precondition(lambda self: len(self._texts()) >= 2)
    @rule(data=st.data(), word=WORDS)
    def relay(self, data: st.DataObject, word: str) -> None:
        """``a`` asks ``b`` through a peer message; ``b`` answers ``a`` the same way."""
        a, b = data.draw(st.permutations(self._texts()))[:2]
        question = f"what about {self._text(word)}?"

        async def go() -> None:
            assert self.mob is not None
            await self.mob.wire(a.identity, b.identity)
            await self.mob.member(a.identity).send(f"ask the {b.identity}: {question}")
            answer = f"{b.identity} says: Here is what I found about '{question}'"
            asked, answered, final = await self._turns(
                lambda k: k["member"] == a.identity and k["text"].startswith("Tool send_message returned"),
                lambda k: k["member"] == b.identity and k["text"].startswith("Tool send_message returned"),
                lambda k: k["member"] == a.identity and k["text"].startswith(answer))
            self._ack(a.session_id, Expected(f"ask the {b.identity}: {question}", asked["text"]),
                      Expected(f"{PEER_NOTICE}{b.identity}:\n{final['text'].removeprefix(f'{b.identity} says: ')}",
                               final["text"]))
            self._ack(b.session_id, Expected(f"{PEER_NOTICE}{a.identity}:\n{question}", answered["text"]))

        self._run(go())

    @precondition(lambda self: any(m.voice and m.socket is None for m in self.members.values()))
    @rule(data=st.data())
    def live_open(self, data: st.DataObject) -> None:
        member = data.draw(st.sampled_from([m for m in self._idle() if m.voice]))

        async def go() -> None:
            assert self.mob is not None
            opened = await self.mob.member_live_open(member.identity)
            socket = await self.rpc.live_connect(opened).__aenter__()
            member.socket, member.channel_id = socket, opened.channel_id
            await socket.wait_for("ready")

        self._run(go())

    @precondition(lambda self: self._live())
    @rule(data=st.data(), word=WORDS, interrupt=st.booleans())
    def live_text(self, data: st.DataObject, word: str, interrupt: bool) -> None:
        member = data.draw(st.sampled_from(self._live()))
        text = self._text(word)

        async def go() -> None:
            assert self.mob is not None and member.socket is not None and member.channel_id is not None
            await member.socket.send_text(text)
            if interrupt:
                await self.mob.member_live_control(member.identity, member.channel_id, "interrupt")
            await member.socket.wait_for("turn_completed")
            self._ack(member.session_id, Expected(text, f"You said: {text}", cut=interrupt))

        self._run(go())

    @precondition(lambda self: self._live())
    @rule(data=st.data(), word=WORDS, mid_turn=st.booleans())
    def live_drop_or_close(self, data: st.DataObject, word: str, mid_turn: bool) -> None:
        """Close the WebSocket (mid-turn: a drop) or close the channel by RPC; wait until it is closed."""
        member = data.draw(st.sampled_from(self._live()))
        text = self._text(word)

        async def go() -> None:
            assert self.mob is not None and member.socket is not None and member.channel_id is not None
            if mid_turn:
                await member.socket.send_text(text)
                self._ack(member.session_id, Expected(text, f"You said: {text}", cut=True, optional=True))
                await member.socket.close()
            else:
                await self.mob.member_live_close(member.identity, member.channel_id)
                await member.socket.close()
            while (await self.mob.member_live_status(member.identity, member.channel_id)).status.status != "closed":
                await asyncio.sleep(0.02)  # poll interval; STEP_TIMEOUT_S bounds the wait
            member.socket = member.channel_id = None

        self._run(go())

    @precondition(lambda self: any(not m.voice for m in self._idle()))
    @rule(data=st.data())
    def respawn(self, data: st.DataObject) -> None:
        """A fresh session for the member; the old one keeps its history."""
        member = data.draw(st.sampled_from([m for m in self._idle() if not m.voice]))

        async def go() -> None:
            assert self.mob is not None
            await self.mob.respawn(member.identity)
            member.session_id = (await self.mob.member(member.identity).info()).current_session_id
            assert member.session_id not in self.model
            self.model[member.session_id] = []

        self._run(go())

    @precondition(lambda self: self.kills < MAX_KILLS and self.acked_since_start >= TURNS_BEFORE_KILL)
    @rule(in_flight=st.booleans(), word=WORDS)
    def kill_9_and_restart(self, in_flight: bool, word: str) -> None:
        """SIGKILL the server (optionally right after an operator message was queued) and restart it."""
        assert self.server is not None
        candidates = self._idle()
        if in_flight and candidates and self.mob is not None:
            member, text = candidates[0], self._text(word)
            self._run(self.mob.member(member.identity).send(text))
            self._ack(member.session_id, Expected(text, f"You said: {text}", optional=True))
        self.kills += 1
        os.kill(self.server.process.pid, signal.SIGKILL)
        assert self.server.process.wait(10) == -signal.SIGKILL
        self._run(self._disconnect())
        self._run(self._start_server())
        self._create_mob()  # mobs do not survive the server; their sessions do

    # -- the invariant -----------------------------------------------------------------------------
    @invariant()
    def history_equals_acknowledged_turns(self) -> None:
        async def read(session_id: str) -> list[dict[str, Any]]:
            history = await self.rpc.read_session_history(session_id, limit=1000)
            assert history.message_count == len(history.messages) < 1000
            return [row.model_dump(mode="json") for row in history.messages]

        for session_id, expected in self.model.items():
            self.model[session_id] = check(expected, project(self._run(read(session_id))))


MobMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# ~5 s an example (a server start-up or two, then fast steps): allow 15 s each beyond the global timeout
TestMobMachine = pytest.mark.timeout(60 + 15 * EXAMPLES)(MobMachine.TestCase)
