"""Live frame overhead and barge-in: what mobkat's ``--live-ws`` path adds between an app and the model.

Three processes (see :mod:`benchmarks.live_rig`): the simulator here, a real ``mobkat rpc --tcp
--live-ws`` server, and the client process. Every path talks to the same simulator, over loopback,
one after the other in interleaved rounds:

- **mobkat**: the app uses mobkat's client SDK; its frames go client → live socket → channel →
  provider socket (the ``openai`` SDK in the server) → simulator, and the reply's audio comes back
  the same way as ``assistant_audio_chunk`` observations;
- **direct**: the app uses the ``openai`` SDK's realtime connection straight to the simulator;
- **agents**: the app uses the OpenAI Agents SDK's ``RealtimeSession`` straight to the simulator;
- **inproc**: the app uses mobkat's Python API in its own process, on its own loop
  (``AsyncRuntime.attach``): the same architecture as the Agents SDK's session, so the ``live.agents_*``
  rows compare these two; ``live.agents_rpc_*`` compare the server path with it (one more hop).

A stream is 20 ms frames of pcm16 silence on a real-time schedule; after a few frames the app types
a line and keeps streaming through the spoken reply (full duplex). Ingress latency: the app's send
call → the simulator receiving the frame's ``input_audio_buffer.append``. Egress latency: the
simulator handing a ``response.output_audio.delta`` to its socket → the app holding that audio (a
parsed event from its SDK). Barge-in: the app's interrupt call (mobkat: the ``live/interrupt`` RPC)
→ the simulator receiving ``response.cancel``, issued on the first audio chunk of a reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.util import find_spec

from benchmarks.common import Row, Settings, Stats, Target, make_row
from benchmarks.live_rig import LiveRig, egress, ingress

PROMPT = "tell me about the weather in oslo today"  # the reply lasts 0.98 s
WARM_UP = "hi"  # the warm-up round's reply: 0.24 s
BARGE_PROMPT = "please describe the long history of the city of oslo"
LEAD_FRAMES = 10  # frames before the prompt, and after the reply
CANCEL = "response.cancel"


@dataclass
class PathRun:
    """One path's provider connection and the latencies measured on it (seconds)."""

    name: str
    connection: int = 0
    sent: list[float] = field(default_factory=list)  # every frame's send time, warm-up included
    frames_in: list[float] = field(default_factory=list)
    audio_out: list[float] = field(default_factory=list)
    missed: int = 0
    egress_cursor: int = 0
    barge: list[float] = field(default_factory=list)
    cancels_seen: int = 0


def _stream(rig: LiveRig, run: PathRun, measure: bool) -> None:
    assert rig.client is not None and rig.sim is not None
    margin = LEAD_FRAMES if measure else 3
    answer = rig.client.call("stream", path=run.name, text=PROMPT if measure else WARM_UP, lead_frames=margin,
                             tail_frames=margin)
    sent: list[float] = answer["sent"]
    run.sent += sent
    frame_bytes: int = answer["frame_bytes"]
    if not rig.sim.wait_appended(run.connection, len(run.sent) * frame_bytes):
        raise RuntimeError(f"{run.name}: the simulator did not get every frame")
    view = rig.sim.view()
    delays = ingress(view.appends(run.connection), run.sent, frame_bytes)[-len(sent):]
    heard = [(float(t), int(crc)) for t, crc in answer["audio"]]
    out, missed, run.egress_cursor = egress(view.audio_sent(run.connection), heard, run.egress_cursor)
    if measure:
        run.frames_in += delays
        run.audio_out += out
        run.missed += missed


def _barge(rig: LiveRig, run: PathRun, times: int, measure: bool) -> None:
    assert rig.client is not None and rig.sim is not None
    stamps: list[float] = rig.client.call("barge", path=run.name, times=times, text=BARGE_PROMPT)["interrupted_at"]
    wanted = run.cancels_seen + times
    sim = rig.sim.sim
    if not sim.stats.wait_for(lambda s: s.client_event_types(run.connection).count(CANCEL) >= wanted, 10):
        raise RuntimeError(f"{run.name}: the simulator did not get {times} response.cancel events")
    cancels = rig.sim.view().received(run.connection, CANCEL)
    if measure:
        run.barge += [cancel - stamp for cancel, stamp in zip(cancels[run.cancels_seen:wanted], stamps, strict=True)]
    run.cancels_seen = wanted


def _open(rig: LiveRig, names: list[str]) -> dict[str, PathRun]:
    assert rig.client is not None and rig.sim is not None
    runs: dict[str, PathRun] = {}
    for index, name in enumerate(names):
        marker = 2 * (index + 1)
        rig.client.call("open", path=name, marker_bytes=marker)
        runs[name] = PathRun(name, rig.sim.connection_of(marker))
    return runs


def _ms(samples: list[float]) -> Stats:
    return Stats.of([s * 1000 for s in samples], "lower")


def run(settings: Settings) -> list[Row]:
    rounds = settings.pick(1, 8)
    barge_rounds, barge_per_round = settings.pick(1, 6), settings.pick(3, 5)
    agents = find_spec("agents") is not None
    names = ["mobkat", "direct", "inproc"] + (["agents"] if agents else [])
    with LiveRig() as rig:
        runs = _open(rig, names)
        for round_index in range(1 + rounds):  # round 0 warms every path up and is discarded
            for name in names:
                _stream(rig, runs[name], measure=round_index > 0)
        for round_index in range(1 + barge_rounds):
            for name in ("mobkat", "direct"):
                _barge(rig, runs[name], 1 if round_index == 0 else barge_per_round, measure=round_index > 0)
    mob, direct, inproc = runs["mobkat"], runs["direct"], runs["inproc"]
    rows = [_frame_row("live.frame_in", mob.frames_in, direct.frames_in, "openai SDK direct",
                       Target("added", "<=", 1, "ms", tail=5), rounds, "ingress"),
            _frame_row("live.frame_out", mob.audio_out, direct.audio_out, "openai SDK direct",
                       Target("added", "<=", 1, "ms", tail=5), rounds, "egress", missed=mob.missed)]
    agents_run = runs.get("agents")
    for name, kind, path in (("live.agents_in", "ingress", inproc), ("live.agents_out", "egress", inproc),
                             ("live.agents_rpc_in", "ingress", mob), ("live.agents_rpc_out", "egress", mob)):
        mine = path.frames_in if kind == "ingress" else path.audio_out
        if agents_run is None:
            rows.append(make_row(name, "ms", _ms(mine), None, "openai-agents RealtimeSession", None,
                                 note="openai-agents not installed (pip install -e '.[bench]'): no baseline"))
            continue
        theirs = agents_run.frames_in if kind == "ingress" else agents_run.audio_out
        base = direct.frames_in if kind == "ingress" else direct.audio_out
        rows.append(_agents_row(name, kind, mine, theirs, base, in_process=path is inproc))
    rows.append(make_row(
        "live.barge_in", "ms", _ms(mob.barge), _ms(direct.barge), "openai SDK response.cancel",
        Target("mobkat", "<=", 5, "ms", stat="p99"),
        note=f"live/interrupt RPC (client SDK over TCP) -> response.cancel at the simulator, issued on a reply's "
             f"first audio chunk; {len(mob.barge)} interrupts per path in {barge_rounds} interleaved rounds"))
    return rows


def _frame_row(name: str, mine: list[float], base: list[float], base_name: str, target: Target, rounds: int,
               kind: str, missed: int = 0) -> Row:
    m, b = _ms(mine), _ms(base)
    what = ("app send call -> simulator got the append" if kind == "ingress"
            else "simulator sent the audio delta -> app has the parsed audio event")
    lost = f"; {missed} audio chunks never reached the mobkat client" if missed else ""
    return make_row(name, "ms", m, b, base_name, target,
                    note=f"20 ms pcm16 frames, {kind}: {what}; added {m.median - b.median:+.2f} ms at p50, "
                         f"{m.p99 - b.p99:+.2f} ms at p99; {len(mine)} samples per path in {rounds} interleaved "
                         f"rounds{lost}")


def _agents_row(name: str, kind: str, mine: list[float], theirs: list[float], base: list[float], *,
                in_process: bool) -> Row:
    m, a, d = _ms(mine), _ms(theirs), _ms(base)
    how = ("mobkat's Python API in the app's process, on the app's loop (AsyncRuntime.attach), where the Agents "
           "SDK's session runs too" if in_process else
           "mobkat through `mobkat rpc --live-ws` (one process hop more than the session: informational)")
    return make_row(name, "ms", m, a, "openai-agents RealtimeSession", Target("ratio", "<=", 1) if in_process else None,
                    note=f"{kind} latency as above, {how}, vs the Agents SDK's RealtimeSession on the same simulator; "
                         f"added over the openai SDK direct at p50: mobkat {m.median - d.median:+.2f} ms, agents "
                         f"{a.median - d.median:+.2f} ms (the ratio <= 1 target is mobkat adding less)")
