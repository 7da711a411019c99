"""In-process checks of the server's building blocks: framing, tokens, bounded queues, error mapping."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mobkat.errors import ChannelNotReadyError, LiveProviderError, SessionNotFoundError
from mobkat.live.wire import AssistantAudioChunk, ChannelStatus, Ready, StatusChanged
from mobkat.rpc.feed import ChannelFeed
from mobkat.rpc.live_socket import ChannelGrant, IngressBudget, LiveSocket
from mobkat.rpc.params import CreateSessionParams
from mobkat.rpc.protocol import LineFramer, OversizedLine, error_from_exception
from mobkat.rpc.tokens import TokenBook, TokenRejected

LINES = st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=20)


@given(lines=LINES, cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=40))
def test_framer_yields_the_same_lines_however_the_stream_is_cut(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    framer, out, pos = LineFramer(limit=64), [], 0
    for cut in [*cuts, len(stream)]:
        out += framer.feed(stream[pos:pos + cut])
        pos += cut
    out += framer.finish()
    assert out == lines


@given(short=st.binary(max_size=10).map(lambda b: b.replace(b"\n", b"")), extra=st.integers(1, 100))
def test_framer_skips_an_oversized_line_without_holding_it(short: bytes, extra: int) -> None:
    framer = LineFramer(limit=16)
    out = framer.feed(b"x" * (16 + extra))
    assert out == [] and len(framer._buf) == 0  # nothing of the long line is kept
    out += framer.feed(b"\n" + short + b"\n")
    assert out == [OversizedLine(16 + extra), short]


def test_tokens_are_single_use_bound_and_expire() -> None:
    now = [0.0]
    book: TokenBook[str] = TokenBook(ttl_s=60, clock=lambda: now[0])
    token = book.mint("ch-1", "grant-1")
    assert book.redeem(token, "ch-1") == "grant-1"
    for presented, channel, reason in ((token, "ch-1", "token_reused"), ("nope", "ch-1", "token_unknown"),
                                       (None, "ch-1", "token_missing")):
        with pytest.raises(TokenRejected) as err:
            book.redeem(presented, channel)
        assert err.value.reason == reason
    foreign = book.mint("ch-2", "grant-2")
    with pytest.raises(TokenRejected, match="belongs to channel ch-2") as wrong:
        book.redeem(foreign, "ch-1")
    assert wrong.value.reason == "token_channel_mismatch"
    with pytest.raises(TokenRejected):
        book.redeem(foreign, "ch-2")  # burnt by the wrong-channel attempt
    late = book.mint("ch-3", "grant-3")
    now[0] = 60.0
    with pytest.raises(TokenRejected, match="within 60 s") as expired:
        book.redeem(late, "ch-3")
    assert expired.value.reason == "token_expired"


def test_feed_drops_oldest_audio_and_says_so() -> None:
    async def body() -> None:
        feed = ChannelFeed(max_audio=3)
        feed(Ready())
        for i in range(5):
            feed(AssistantAudioChunk(data=base64.b64encode(bytes([i, 0])).decode()))
        feed(StatusChanged(status=ChannelStatus(status="closed")))
        seen = []
        while (item := await feed.get()) is not None:
            seen.append(item)
        kinds = [o.observation for o in seen]
        assert kinds == ["ready", "assistant_audio_chunk", "command_rejected", "assistant_audio_chunk",
                         "assistant_audio_chunk", "status_changed"]  # one notice, where the dropping began
        kept = [base64.b64decode(o.data)[0] for o in seen if isinstance(o, AssistantAudioChunk)]
        assert kept == [2, 3, 4]  # the two oldest were dropped
        notice = seen[2]
        assert notice.observation == "command_rejected" and notice.code.reason == {
            "kind": "output_backpressured", "dropped": 2, "max_pending_audio_chunks": 3}
        assert feed.finished

    asyncio.run(body())


class FakeWs:
    """A server connection whose client sends ``phases`` of frames, each after the previous gate opens,
    then hangs up when the last gate opens."""

    def __init__(self, phases: list[list[bytes | str]], gates: list[asyncio.Event]) -> None:
        self.phases, self.gates = phases, gates
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def _frames(self) -> AsyncIterator[bytes | str]:
        for index, frames in enumerate(self.phases):
            if index:
                await self.gates[index - 1].wait()
            for frame in frames:
                yield frame
        await self.gates[-1].wait()

    def __aiter__(self) -> AsyncIterator[bytes | str]:
        return self._frames()

    async def send(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = self.closed or (code, reason)


class SlowEntry:
    """A session actor stand-in; its channel's ``send_pcm`` waits until the test lets it finish."""

    def __init__(self, feed: ChannelFeed) -> None:
        self.feed = feed
        self.release = asyncio.Event()
        self.sent: list[bytes] = []
        self.calls: list[str] = []

    async def call(self, name: str, *args: Any) -> Any:
        self.calls.append(name)
        if name == "live_channel":  # the socket asks for the channel once, then streams into it
            return self
        if name == "live_close":
            self.feed(StatusChanged(status=ChannelStatus(status="closed")))
        return None

    async def send_pcm(self, pcm: bytes) -> None:
        await self.release.wait()
        self.sent.append(pcm)


def test_socket_ingress_is_bounded_and_reports_backpressure() -> None:
    async def body() -> None:
        feed, budget = ChannelFeed(), IngressBudget(limit=3000)
        entry = SlowEntry(feed)
        frames: list[bytes | str] = [bytes([n]) * 1000 for n in range(5)]
        more, hangup = asyncio.Event(), asyncio.Event()
        ws = FakeWs([frames, [b"\x09" * 1000]], [more, hangup])
        socket = LiveSocket(ws, ChannelGrant("ch", entry, feed), pcm_format=True, budget=budget)  # type: ignore[arg-type]
        runner = asyncio.create_task(socket.run())
        async with asyncio.timeout(5):
            while len(ws.sent) < 2:
                await asyncio.sleep(0.01)
        reasons = [m["code"]["reason"] for m in ws.sent]
        assert reasons == [{"kind": "input_backpressured", "max_pending_bytes": 3000}] * 2
        assert budget.pending == 3000 and ws.closed is None  # refused, not disconnected
        entry.release.set()
        async with asyncio.timeout(5):
            while budget.pending:
                await asyncio.sleep(0.01)
        more.set()  # the channel caught up: input is accepted again
        async with asyncio.timeout(5):
            while len(entry.sent) < 2:
                await asyncio.sleep(0.01)
        hangup.set()
        await asyncio.wait_for(runner, 5)
        assert entry.sent == [bytes([0]) * 1000 + bytes([1]) * 1000 + bytes([2]) * 1000, b"\x09" * 1000]
        assert entry.calls[-1] == "live_close" and budget.pending == 0  # the socket ended: channel closed
        assert ws.sent[-1] == {"observation": "status_changed", "status": {"status": "closed"}}

    asyncio.run(body())


def test_live_family_errors_are_invalid_params_or_internal() -> None:
    missing = error_from_exception(SessionNotFoundError("gone", details={"session_id": "s1"}), method="live/open",
                                   style="live")
    assert (missing.code, missing.message, missing.data["kind"]) == (-32602, "session s1 not found",
                                                                     "session_not_found")
    standard = error_from_exception(SessionNotFoundError("session s1 not found"), method="session/read")
    assert standard.code == -32001
    assert error_from_exception(ChannelNotReadyError("closed"), method="live/interrupt", style="live").code == -32603
    assert error_from_exception(LiveProviderError("down"), method="live/open", style="live").code == -32603
    crash = error_from_exception(ZeroDivisionError("boom"), method="session/read")
    assert crash.code == -32603 and "ZeroDivisionError" in crash.message


def test_create_params_refuse_what_mobkat_cannot_honour() -> None:
    tolerated = CreateSessionParams.model_validate({"prompt": "hi", "max_tokens": 10, "enable_shell": False,
                                                   "keep_alive": None})
    assert tolerated.instructions() is None
    with pytest.raises(ValidationError, match="enable_shell is not supported"):
        CreateSessionParams.model_validate({"prompt": "hi", "enable_shell": True})
    with pytest.raises(ValidationError, match="text content only"):
        CreateSessionParams.model_validate({"prompt": [{"type": "image", "media_type": "image/png"}]})
    joined = CreateSessionParams.model_validate({"prompt": [{"type": "text", "text": "hi"}],
                                                "system_prompt": "Be brief.", "additional_instructions": ["Rhyme."]})
    assert joined.instructions() == "Be brief.\n\nRhyme."
