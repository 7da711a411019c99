"""An offline, deterministic stand-in for the OpenAI API: Realtime WebSocket + Chat Completions.

``Simulator`` serves both on one loopback port; point the ``openai`` SDK at ``sim.base_url``.
See docs/simulator.md for the protocol subset, the reply rules and the fault scripting.
"""

from mobkat.simulator.brain import BrainMessage, TextReply, ToolCallReply, think
from mobkat.simulator.script import (
    DEFAULT_RULES,
    ErrorSpec,
    Faults,
    SimulatorScript,
    Speech,
    ToolRule,
    Transcription,
)
from mobkat.simulator.server import Simulator
from mobkat.simulator.stats import ClientEventRecord, SimulatorStats

__all__ = [
    "DEFAULT_RULES",
    "BrainMessage",
    "ClientEventRecord",
    "ErrorSpec",
    "Faults",
    "Simulator",
    "SimulatorScript",
    "SimulatorStats",
    "Speech",
    "TextReply",
    "ToolCallReply",
    "ToolRule",
    "Transcription",
    "think",
]
