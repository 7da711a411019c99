"""A mob that follows a plan: run the ``main`` flow of ``mobs/flow-demo.toml`` (researcher -> writer ->
reviewer) and print each step's output. Offline: the built-in simulator stands in without OPENAI_API_KEY.

    python examples/mob_flow.py "meerkats"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mobkat.mob import Mob

DEFINITION = Path(__file__).resolve().parents[1] / "mobs" / "flow-demo.toml"


def main(topic: str) -> int:
    with Mob.from_toml(DEFINITION) as mob:  # no OPENAI_API_KEY: the built-in simulator stands in
        if mob.simulator is not None:
            print(f"simulator: stands in for OpenAI at {mob.simulator.base_url} (offline; no API key)")
        mob.spawn_members()
        print("flows:", mob.flows())
        run_id = mob.run(topic)  # flow "main", params.prompt = topic
        run = mob.wait_flow(run_id, timeout=60)
        print(f"run {run.status}")
        for step_id, output in run.root_step_outputs.items():
            print(f"  {step_id}: {json.dumps(output)}")
        for event in mob.events_log.after(0):
            if event.type.startswith(("flow_", "step_")):
                print(f"  event {event.cursor} {event.type} {event.get('step_id') or ''}".rstrip())
        return 0 if run.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "meerkats"))
