"""Live density: how many channels one ``mobkat rpc`` process carries with real-time audio both ways.

The rig of :mod:`benchmarks.bench_live` (simulator here, ``mobkat rpc`` and the load generator in
child processes), the server started with ``--live-ws-max-connections 256`` (the default cap is
upstream's 32 sockets). For each N in the steps, N connections stream 20 ms frames on a real-time
schedule for a while and get a ~1.2 s spoken reply every 3 s (:mod:`benchmarks.live_load`).
A step passes when both the p99 **ingress** delay (the frame's *scheduled* send time → the
simulator receiving it, so a late load generator counts against the path) and the p99 **egress**
delay (the simulator sending an audio delta → the client having it) are under 40 ms; a frame or
chunk that never arrived counts as arriving when the results are read (at least that late). The
figure is the largest N that passed. Baseline: the same load straight to the simulator (no
mobkat). The two paths alternate at each N, and each stops at its first failing N.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Row, Settings, Stats, Target, make_row, percentile
from benchmarks.live_rig import LiveRig, egress, ingress

LIMIT_MS = 40.0
FULL_STEPS = (8, 16, 32, 48, 64, 80, 96, 128)
QUICK_STEPS = (16,)
MAX_SOCKETS = 256
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Step:
    """One measured load: N connections on a path."""

    n: int
    in_p50: float
    in_p99: float
    out_p50: float
    out_p99: float
    lag_p99: float  # the load generator's own lateness (actual send - scheduled), ms
    server_cores: float  # CPU of the mobkat server process while streaming, in cores (0 for direct)

    @property
    def passed(self) -> bool:
        return self.in_p99 < LIMIT_MS and self.out_p99 < LIMIT_MS

    def text(self) -> str:
        cpu = f", server {self.server_cores:.2f} cores" if self.server_cores else ""
        return f"N={self.n} p99 in {self.in_p99:.1f}/out {self.out_p99:.1f} ms{cpu}"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CpuSampler:
    """The CPU time of a process, sampled every 0.1 s on a thread, to read it over any window after."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), _cpu_seconds(self.pid)))
            if self._stop.wait(0.1):
                return

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def cores(self, start: float, end: float) -> float:
        """CPU seconds per second between the samples nearest inside ``start`` and ``end``."""
        inside = [sample for sample in self.samples if start <= sample[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def _step(rig: LiveRig, path: str, n: int, seconds: float, marker_base: int) -> Step:
    assert rig.client is not None and rig.sim is not None and rig.server is not None
    with CpuSampler(rig.server.process.pid) as cpu:
        answer = rig.client.call("density", path=path, n=n, seconds=seconds, tcp=rig.server.tcp,
                                 sim=rig.sim.sim.base_url, marker_base=marker_base)
    cores = cpu.cores(*answer["streaming"]) if path == "mobkat" else 0.0
    frame_bytes: int = answer["frame_bytes"]
    connections = answer["connections"]
    last = connections[-1]
    rig.sim.wait_appended(rig.sim.connection_of(last["marker_bytes"]), len(last["scheduled"]) * frame_bytes, 2.0)
    view = rig.sim.view()
    read_at = time.monotonic()
    frames_in: list[float] = []
    audio_out: list[float] = []
    lag: list[float] = []
    for conn in connections:
        connection = view.connection_of(conn["marker_bytes"])
        if connection is None:
            frames_in += [read_at - due for due in conn["scheduled"]]
            continue
        arrived = ingress(view.appends(connection), conn["scheduled"], frame_bytes)
        frames_in += [read_at - due if math.isinf(d) else d for d, due in zip(arrived, conn["scheduled"], strict=True)]
        heard = [(float(t), int(crc)) for t, crc in conn["audio"]]
        delays, missed, _ = egress(view.audio_sent(connection), heard)
        audio_out += delays + [float(seconds)] * missed
        lag += [sent - due for sent, due in zip(conn["sent"], conn["scheduled"], strict=True)]
    ms_in = [d * 1000 for d in frames_in]
    ms_out = [d * 1000 for d in audio_out] or [0.0]
    return Step(n, percentile(ms_in, 50), percentile(ms_in, 99), percentile(ms_out, 50), percentile(ms_out, 99),
                percentile(lag, 99) * 1000 if lag else 0.0, cores)


def _climb(rig: LiveRig, steps: tuple[int, ...], seconds: float) -> dict[str, list[Step]]:
    """Measure each N on both paths, interleaved (so load drift hits both alike); a path stops after
    its first failing N."""
    done: dict[str, list[Step]] = {"mobkat": [], "direct": []}
    marker_base = 0
    for n in steps:
        for path, measured in done.items():
            if measured and not measured[-1].passed:
                continue
            measured.append(_step(rig, path, n, seconds, marker_base))
            marker_base += n
        if all(measured and not measured[-1].passed for measured in done.values()):
            break
    return done


def _largest(steps: list[Step]) -> int:
    passed = [step.n for step in steps if step.passed]
    return max(passed) if passed else 0


def run(settings: Settings) -> list[Row]:
    steps = QUICK_STEPS if settings.quick else FULL_STEPS
    seconds = 1.5 if settings.quick else 8.0
    with LiveRig("--live-ws-max-connections", str(MAX_SOCKETS)) as rig:
        for path in ("mobkat", "direct"):  # warm-up, discarded: first-use costs of both paths
            _step(rig, path, 2, 0.6, marker_base=5000)
        climbed = _climb(rig, steps, seconds)
    mine, base = climbed["mobkat"], climbed["direct"]
    ours, theirs = _largest(mine), _largest(base)
    target = None if settings.quick else Target("mobkat", ">=", 64)
    scope = "quick: one step, no target" if settings.quick else f"steps {', '.join(map(str, steps))}"
    rows = [make_row(
        "live.density", "channels", Stats(ours, ours, 1), Stats(theirs, theirs, 1), "same load, no mobkat", target,
        note=f"largest N with p99 ingress (scheduled send -> simulator) and egress (simulator -> client) delay "
             f"< {LIMIT_MS:g} ms, {seconds:g} s per step ({scope}; a path that passes every step reports the "
             f"last); mobkat: {'; '.join(s.text() for s in mine)}; no mobkat: {'; '.join(s.text() for s in base)}")]
    both = [s for s in mine if s.n <= 64 and any(b.n == s.n for b in base)]
    at = both[-1]
    ref = next(b for b in base if b.n == at.n)
    lag = max(at.lag_p99, ref.lag_p99)
    rows.append(make_row(
        "live.density_delay", "ms", Stats(at.in_p99, at.in_p99, 1), Stats(ref.in_p99, ref.in_p99, 1),
        "same load, no mobkat", None,
        note=f"informational: p99 ingress frame delay at N={at.n} (egress p99 {at.out_p99:.1f} ms, no mobkat "
             f"{ref.out_p99:.1f} ms); at that N the load generator's own lateness was under {lag:.1f} ms at p99"))
    return rows
