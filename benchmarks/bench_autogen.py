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
        series = {"mob": lambda: messages / rig.run(messages, "tell"),
                  "mob_ask": lambda: messages / rig.run(messages, "ask")}
        if available():
            from benchmarks import autogen_agents

            series["send_message"] = lambda: messages / autogen_agents.seconds(messages, "send_message")
            series["publish_message"] = lambda: messages / autogen_agents.seconds(messages, "publish_message")
        samples = interleave(series, repeats=repeats)
    mob, mob_ask = Stats.of(samples["mob"], "higher"), Stats.of(samples["mob_ask"], "higher")
    if not available():
        missing = "autogen-core is not installed (pip install -e '.[bench]'): no baseline"
        return [make_row(f"autogen.{api}", unit, mob, None, f"AutoGen core {api}", target, missing)
                for api, target in (("send_message", TARGET), ("publish_message", None))]
    send, publish = Stats.of(samples["send_message"], "higher"), Stats.of(samples["publish_message"], "higher")
    return [
        make_row("autogen.send_message", unit, mob, send, "AutoGen core send_message", TARGET,
                 note=f"Mob.send_peer_nowait vs SingleThreadedAgentRuntime.send_message, two agents, {messages} "
                      f"messages/run; Mob.send_peer (an ask per message) vs send_message: "
                      f"{mob_ask.median / send.median:.1f}x"),
        make_row("autogen.publish_message", unit, mob, publish, "AutoGen core publish_message", None,
                 note="Mob.send_peer_nowait vs SingleThreadedAgentRuntime.publish_message to a topic the sink "
                      "subscribes to (both fire and forget), informational"),
    ]
