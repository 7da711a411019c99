"""Peer routing through a ``Mob`` next to AutoGen core's ``SingleThreadedAgentRuntime`` (the ``bench`` extra).

AutoGen side: two agents in one runtime; a ``Burst(n)`` sent to the sender agent makes it send ``n``
messages to the sink agent, with ``send_message`` (awaits each message's handling) or with
``publish_message`` to a topic the sink subscribes to (does not await). Timed from the burst until the
sink has handled the last message. mobkat side: the ``routing.peer`` measurement (``Mob.send_peer_nowait``
until the last message is in the receiving member's inbox, see ``bench_routing``), same message count,
interleaved with the AutoGen runs. Without ``autogen-core`` installed the rows say so (baseline null).
"""

from __future__ import annotations

from importlib.util import find_spec

from benchmarks.bench_routing import MobRig
from benchmarks.common import Row, Settings, Stats, Target, interleave, make_row

TARGET = Target("ratio", ">=", 10)


def available() -> bool:
    return find_spec("autogen_core") is not None


def run(settings: Settings) -> list[Row]:
    messages = settings.pick(1000, 5000)
    repeats = settings.pick(5, 15)
    unit = "msg/s"
    with MobRig() as rig:
        series = {"mob": lambda: messages / rig.run(messages, "tell")}
        if available():
            from benchmarks import autogen_agents

            series["send_message"] = lambda: messages / autogen_agents.seconds(messages, "send_message")
            series["publish_message"] = lambda: messages / autogen_agents.seconds(messages, "publish_message")
        samples = interleave(series, repeats=repeats)
    mob = Stats.of(samples["mob"], "higher")
    missing = "autogen-core is not installed (pip install -e '.[bench]'): no baseline"
    rows = []
    for api in ("send_message", "publish_message"):
        baseline = Stats.of(samples[api], "higher") if api in samples else None
        note = (f"Mob.send_peer_nowait vs AutoGen core SingleThreadedAgentRuntime.{api}, two agents, "
                f"{messages} messages/run" if baseline else missing)
        rows.append(make_row(f"autogen.{api}", unit, mob, baseline, f"AutoGen core {api}", TARGET, note))
    return rows
