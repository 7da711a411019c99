"""Sessions in five minutes: one canonical history, a Python tool, atomic turns, reload from disk.

Runs offline: the built-in simulator stands in for OpenAI on a loopback port.

    python examples/session_basics.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Literal

from mobkat.config import MobkatConfig
from mobkat.history import row_to_wire
from mobkat.session import Session, SessionServices, ToolRegistry
from mobkat.session.events import SessionEvent
from mobkat.simulator import Simulator, ToolRule
from mobkat.store import SqliteSessionStore

tools = ToolRegistry()


@tools.register
def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict[str, str | int]:
    """Current weather for a city.

    (Only the first paragraph of the docstring becomes the tool description.)
    """
    stations = {"Oslo": 4, "Lisbon": 19}
    if city not in stations:
        raise LookupError(f"no weather station in {city}")  # becomes an error result the model sees
    celsius = stations[city]
    return {"city": city, "temperature": celsius if unit == "C" else celsius * 9 // 5 + 32, "unit": unit}


def show_event(event: SessionEvent) -> None:
    """Print the interesting progress events of a turn (text deltas are left out)."""
    if event.type != "text_delta":
        print("   event", json.dumps(event.to_wire()))


def main() -> None:
    with Simulator() as sim, tempfile.TemporaryDirectory(prefix="mobkat-example-") as tmp:
        print(f"simulator: stands in for OpenAI at {sim.base_url} (offline; no API key, nothing leaves this machine)")
        # Teach the simulated model when to call our tool: a question about the weather in <city>.
        sim.add_tool_rule(ToolRule(pattern=r"weather in (?P<city>[A-Z]\w+)", tool="get_weather",
                                   arguments={"city": "{city}"}))

        store = SqliteSessionStore(Path(tmp) / "sessions.db")
        # MobkatConfig() = built-in defaults only; simulator_base_url sends every provider to the simulator.
        with SessionServices(store=store, config=MobkatConfig(), simulator_base_url=sim.base_url) as services:
            session = Session.create(services, model="gpt-5.5", instructions="Be brief.", tools=tools)
            print(f"session {session.id}: model={session.model} provider={session.provider} idle={session.idle}")
            for tool in tools:
                print(f"tool {tool.name}: {tool.description!r} parameters={json.dumps(tool.parameters)}")

            for prompt in ("hello there", "remember the codeword amber lantern"):
                result = session.run_turn(prompt)
                print(f"> {prompt}\n< {result.text}")

            prompt = "what is the weather in Oslo?"
            print(f"> {prompt}")
            result = session.run_turn(prompt, on_event=show_event)
            print(f"< {result.text}   (model calls: {result.turns}, tool calls: {result.tool_calls})")

            prompt = "and the weather in Atlantis?"
            result = session.run_turn(prompt)
            print(f"> {prompt}\n< {result.text}")

            # A new Session object over the same store sees the same history: the store is the truth.
            reopened = Session.load(services, session.id, tools=tools)
            prompt = "what codeword did I ask you to remember?"
            result = reopened.run_turn(prompt)
            print(f"> {prompt}   (asked through a reloaded Session)\n< {result.text}")
            print(f"idle={reopened.idle} turns={reopened.meta.turn_count} rows={len(reopened.history())}")

            print("history rows (Meerkat wire shapes):")
            for row in reopened.history():
                print("  ", json.dumps(row_to_wire(row)))
        store.close()


if __name__ == "__main__":
    main()
