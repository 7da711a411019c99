"""Hypothesis state machine over a whole mob on the real RPC server (``mobkat rpc --tcp``).

Steps: spawn text and realtime members, operator messages, ``turn/start`` on member sessions, peer
relays ("ask the <peer>: ...?"), live text turns over a member's WebSocket, interrupts, client socket
drops (the client closes the live WebSocket mid-turn, which closes the channel), member crashes
(``fault/member_crash``, optionally with a message in flight), simulator socket drops
(``fault/provider_drop``, optionally mid-turn: the channel degrades and reconnects), respawns, and
``kill -9`` of the server with a restart on the same state root and realm: the restarted server must
RESTORE the mob (every member on its session at generation + 1 with a ``member_restored`` event, the
wiring, the event cursor continuing after ``mob_restored``). Invariant after every step: every session's
committed history (``session/history``) equals the turns acknowledged as committed (a ``turn_committed``
mob event, a ``turn/start`` result, or a live ``turn_completed`` observation): nothing lost, nothing
duplicated, order kept.

One server serves every example (each example is a new mob with new sessions in the shared realm;
earlier examples' sessions are other tenants' data), and servers are forked from a pre-imported
parent (:mod:`tests.hardening.forked_server`), so a ``kill -9`` and restart costs ~0.2 s: the plain
run does a few dozen examples, ``.ci/run`` 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mobkat.client import MobkatClient
from mobkat.client.live import LiveSocket
from mobkat.client.mob import MobEventStream, MobHandle
from mobkat.live.wire import Observation
from tests.hardening.forked_server import ForkedServer
from tests.hardening.mob_model import PEER_NOTICE, Expected, check, project

EXAMPLES = int(os.environ.get("MOBKAT_STATEFUL_EXAMPLES", "30"))
STEPS = int(os.environ.get("MOBKAT_MOB_STATEFUL_STEPS", "10"))
REALM = "hardening"
STEP_TIMEOUT_S = 30.0
NEVER_BROKEN = {"max_restarts": 1_000_000, "within_s": 1}  # crashes are drilled here, not the restart limit
TEXT = {"model": "gpt-5.5", "runtime_mode": "turn_driven", "external_addressable": True, "restart": NEVER_BROKEN}
VOICE = {"model": "gpt-realtime-2", "runtime_mode": "turn_driven", "external_addressable": True,
         "live": {"open_on_spawn": False}, "restart": NEVER_BROKEN}
WORDS = st.sampled_from(["amber", "lantern", "fig", "kiwi", "harbour", "comet"])
MAX_KILLS = 2
TURNS_BEFORE_KILL = 3
MOB_IDS = itertools.count(1)
T = TypeVar("T")


class SharedServer:
    """The server every example talks to: started on first use, restarted after a ``kill -9``."""

    def __init__(self) -> None:
        self.state: str | None = None
        self.server: ForkedServer | None = None

    def get(self) -> ForkedServer:
        if self.server is None or not self.server.alive():
            if self.state is None:
                self.state = tempfile.mkdtemp(prefix="mobkat-mob-sm-")
            self.server = ForkedServer([
                "--simulator", "--simulator-pace", "0.02", "--live-ws", "127.0.0.1:0", "--fault-injection",
                "--state-root", self.state, "--realm", REALM])
        return self.server

    def kill9(self) -> None:
        assert self.server is not None
        assert self.server.kill9() == -signal.SIGKILL
        self.server = None

    def close(self) -> None:
        if self.server is not None and self.server.alive():
            self.server.kill9()
        self.server = None
        if self.state is not None:
            shutil.rmtree(self.state, ignore_errors=True)
        self.state = None


SHARED = SharedServer()


@pytest.fixture(autouse=True, scope="module")
def _shared_server() -> Iterator[None]:
    yield
    SHARED.close()


class Member:
    def __init__(self, identity: str, session_id: str, voice: bool) -> None:
        self.identity, self.session_id, self.voice = identity, session_id, voice
        self.socket: LiveSocket | None = None
        self.channel_id: str | None = None


class MobMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.client: MobkatClient | None = None
        self.mob: MobHandle | None = None
        self.events: MobEventStream | None = None
        self.members: dict[str, Member] = {}
        self.generations: dict[str, int] = {}  # member → its generation as last seen
        self.edges: set[frozenset[str]] = set()
        self.model: dict[str, list[Expected]] = {}  # session id → acknowledged turns
        self.counter = 0
        self.kills = 0
        self.restored_at = 0  # the cursor of the last mob_restored event seen
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
            if self.mob is not None:  # the shared server forgets this example's mob (its sessions stay)
                self._run(self.mob.lifecycle("destroy"))
        finally:
            try:
                self._run(self._disconnect())
            finally:
                self.loop.close()

    async def _start_server(self) -> None:
        server = await asyncio.to_thread(SHARED.get)
        self.client = await MobkatClient().connect(tcp=server.address)
        self.acked_since_start = 0

    async def _disconnect(self) -> None:
        for member in self.members.values():
            if member.socket is not None:
                with contextlib.suppress(Exception):
                    await member.socket.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
        self.client, self.mob, self.events, self.members = None, None, None, {}

    @property
    def rpc(self) -> MobkatClient:
        assert self.client is not None
        return self.client

    def _text(self, word: str) -> str:
        self.counter += 1
        return f"{word} {self.counter}"

    async def _turns(self, *wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The next ``turn_committed`` events matching each predicate (a live turn's event has no ``text``:
        predicates read it with ``.get``)."""
        return await self._events("turn_committed", *wanted)

    async def _events(self, kind_type: str, *wanted: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """The next ``kind_type`` events of the mob's event stream matching each predicate (others are skipped)."""
        return await self._kinds(*((kind_type, match) for match in wanted))

    async def _kinds(self, *wanted: tuple[str, Callable[[dict[str, Any]], bool]]) -> list[dict[str, Any]]:
        """The next events matching each ``(type, predicate)``, whichever order they come in; others are skipped.

        A failed turn is retried by the member (its message commits later, once); a dead-lettered message
        fails the step at once: no fault here lasts for all of a message's attempts."""
        assert self.events is not None
        found: list[dict[str, Any] | None] = [None] * len(wanted)
        while None in found:
            kind = (await anext(self.events)).kind.model_dump(mode="json")
            if kind["type"] == "message_dead_lettered":
                raise AssertionError(f"a message was dead-lettered: {kind}")
            for index, (kind_type, match) in enumerate(wanted):
                if found[index] is None and kind["type"] == kind_type and match(kind):
                    found[index] = kind
                    break
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
        definition = {"id": f"mob{next(MOB_IDS)}", "profiles": {"text": TEXT, "voice": VOICE}}
        self.mob = self._run(self.rpc.create_mob(definition))
        self.events = self._run(self.mob.events().open())
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
        [kind] = await self._turns(lambda k: k["member"] == member.identity and k.get("text") == f"You said: {text}")
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
            self.edges.add(frozenset((a.identity, b.identity)))
            await self.mob.member(a.identity).send(f"ask the {b.identity}: {question}")
            answer = f"{b.identity} says: Here is what I found about '{question}'"
            asked, answered, final = await self._turns(
                lambda k: k["member"] == a.identity and k.get("text", "").startswith("Tool send_message returned"),
                lambda k: k["member"] == b.identity and k.get("text", "").startswith("Tool send_message returned"),
                lambda k: k["member"] == a.identity and k.get("text", "").startswith(answer))
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
            await self._observe(member, lambda o: o.observation == "user_transcript_final" and o.text == text)
            if interrupt:
                await self.mob.member_live_control(member.identity, member.channel_id, "interrupt")
            await self._observe(member, lambda o: o.observation == "turn_completed")
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

    async def _observe(self, member: Member, match: Callable[[Observation], bool]) -> Observation:
        """Read the member's live socket up to the first observation that matches."""
        assert member.socket is not None
        async for observation in member.socket:
            if match(observation):
                return observation
        raise AssertionError(f"the live socket of {member.identity} closed (code {member.socket.close_code})")

    @precondition(lambda self: self.members)
    @rule(data=st.data(), word=WORDS, in_flight=st.booleans())
    def member_crash(self, data: st.DataObject, word: str, in_flight: bool) -> None:
        """``fault/member_crash``: the supervisor restarts the member on the same session. A message sent just
        before is redelivered unless its turn committed first: either way it commits exactly once. Its
        ``turn_committed`` may come before ``member_restarted`` (it committed before the crash) or after."""
        member = data.draw(st.sampled_from(sorted(self.members.values(), key=lambda m: m.identity)))
        text = self._text(word)
        with_message = in_flight and member.socket is None

        async def go() -> None:
            assert self.mob is not None
            handle = self.mob.member(member.identity)
            if with_message:
                await handle.send(text)
            generation = await handle.crash()
            wanted: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
                ("member_restarted", lambda k: k["member"] == member.identity and k["generation"] == generation + 1)]
            if with_message:
                wanted.append(("turn_committed", lambda k: k["member"] == member.identity
                               and k.get("text") == f"You said: {text}"))
            found = await self._kinds(*wanted)
            if member.socket is not None:  # the channel died with its actor: the socket is closed for us
                async for _ in member.socket:
                    pass
                member.socket = member.channel_id = None
            elif with_message:
                self._ack(member.session_id, Expected(text, found[1]["text"]))
            assert (await handle.info()).current_session_id == member.session_id

        self._run(go())

    @precondition(lambda self: self._live())
    @rule(data=st.data(), word=WORDS, mid_turn=st.booleans())
    def provider_drop(self, data: st.DataObject, word: str, mid_turn: bool) -> None:
        """``fault/provider_drop``: the simulator cuts every realtime socket; each live channel degrades and
        reconnects. A turn in flight may be lost or cut, never duplicated."""
        talker = data.draw(st.sampled_from(self._live()))
        text = self._text(word)

        async def go() -> None:
            assert talker.socket is not None
            if mid_turn:
                await talker.socket.send_text(text)
                self._ack(talker.session_id, Expected(text, f"You said: {text}", cut=True, optional=True))
            assert await self.rpc.drop_provider_sockets() >= len(self._live())
            for member in self._live():
                for status in ("degraded", "ready"):
                    await self._observe(member, lambda o, s=status: o.observation == "status_changed"  # type: ignore[misc]
                                        and o.status.status == s)

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
        candidates = self._idle()
        if in_flight and candidates and self.mob is not None:
            member, text = candidates[0], self._text(word)
            self._run(self.mob.member(member.identity).send(text))
            self._ack(member.session_id, Expected(text, f"You said: {text}", optional=True))
        self.kills += 1
        assert self.mob is not None
        mob_id, members = self.mob.id, dict(self.members)
        self._run(self._known_generations())
        SHARED.kill9()
        self._run(self._disconnect())
        self._run(self._start_server())
        self._run(self._restored(mob_id, members))
        event(f"kill -9 and restore: {len(members)} members, {len(self.edges)} edges")

    async def _known_generations(self) -> None:
        assert self.mob is not None
        self.generations = {m.agent_identity: m.generation for m in await self.mob.members()}

    async def _restored(self, mob_id: str, members: dict[str, Member]) -> None:
        """The restarted server has the mob back: same members on the same sessions at generation + 1, the
        same wiring, and its event log continued by ``mob_restored`` and one ``member_restored`` each."""
        self.mob = self.rpc.mob(mob_id)
        assert (await self.mob.status()).status == "Running"
        roster = {m.agent_identity: m for m in await self.mob.members()}
        assert {name: (m.current_session_id, m.generation) for name, m in roster.items()} == {
            name: (member.session_id, self.generations[name] + 1) for name, member in members.items()}
        assert {frozenset((name, peer)) for name, m in roster.items() for peer in m.wired_to} == self.edges
        events, cursor = [], 0
        while page := await self.mob.read_events(after_cursor=cursor, limit=1000):
            events.extend(page)
            cursor = page[-1].cursor
        assert [e.cursor for e in events] == list(range(events[0].cursor, cursor + 1))  # no gap, ever
        [restored] = [e for e in events if e.kind.type == "mob_restored" and e.cursor > self.restored_at]
        self.restored_at = restored.cursor
        back = {e.get("member"): e.get("generation") for e in events if e.cursor > restored.cursor
                and e.kind.type == "member_restored"}
        assert back == {name: self.generations[name] + 1 for name in members}
        for member in members.values():
            member.socket = member.channel_id = None  # a live channel dies with its server
        self.members = members
        self.events = await self.mob.events().open()

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
# well under 1 s an example on an idle machine: allow 5 s each beyond the global timeout
TestMobMachine = pytest.mark.timeout(60 + 5 * EXAMPLES)(MobMachine.TestCase)
