"""A research team mob: spawn it, ask the lead a question it relays to a peer, then crash, retire, resume events.

Runs offline: ``simulator=True`` makes the mob start the built-in simulator, which plays every model with
deterministic rules (mobkat/mob/sim_rules.py): "ask the <peer>: <question>" makes a member call
``send_message``, and a peer message that asks a question is answered by ``send_message``.

    python examples/mob_team.py
"""

from __future__ import annotations

from pathlib import Path

from mobkat.errors import WiringError
from mobkat.history import BlockAssistantRow, HistoryRow, SystemNoticeRow, ToolResultsRow, UserRow
from mobkat.mob import Mob, MobEvent

TEAM = Path(__file__).resolve().parents[1] / "mobs" / "research-team.toml"
QUIET = {"fence_token", "session_id", "timestamp"}  # fields left out of the event lines


def short(value: object, width: int = 72) -> str:
    text = str(value).replace("\n", " | ")
    return text if len(text) <= width else text[:width - 3] + "..."


def event_line(event: MobEvent) -> str:
    """``cursor type key=value ...`` with ids shortened and long texts cut."""
    fields = {k: v for k, v in (event.kind.model_extra or {}).items() if k not in QUIET}
    if "message_id" in fields:
        fields["message_id"] = str(fields["message_id"])[:8]
    return f"  {event.cursor:>3} {event.type:<20} " + " ".join(f"{k}={short(v, 60)}" for k, v in fields.items())


def row_line(row: HistoryRow) -> str:
    if isinstance(row, UserRow):
        return f"    user            {short(row.text)}"
    if isinstance(row, SystemNoticeRow):
        kind = row.blocks[0]["kind"] if row.blocks else row.kind
        return f"    system_notice   [{kind}] {short(row.body)}"
    if isinstance(row, BlockAssistantRow):
        calls = [f"{b.data['name']}({', '.join(f'{k}={v!r}' for k, v in b.data['args'].items())})"
                 for b in row.tool_uses]
        return f"    block_assistant {short(row.text or 'calls ' + ', '.join(calls))}"
    if isinstance(row, ToolResultsRow):
        return f"    tool_results    {short('; '.join(r.content for r in row.results))}"
    return f"    {row.role}"


def show_history(mob: Mob, name: str) -> None:
    rows = mob.member(name).history()
    print(f"history of {name} ({len(rows)} rows):")
    for row in rows:
        print(row_line(row))


def main() -> None:
    with Mob.from_toml(TEAM, simulator=True) as mob:
        assert mob.simulator is not None
        print(f"simulator: stands in for OpenAI at {mob.simulator.base_url} (offline; no API key, "
              "nothing leaves this machine)")
        print(f"mob {mob.id}: spawned {mob.spawn_members()}")
        print("roster:")
        for member in mob.members():
            print(f"  {member['comms_name']:<30} generation {member['generation']}  "
                  f"wired to {', '.join(member['wired_to'])}")
        mob.wait_idle(20)  # every autonomous member runs its kickoff turn first

        question = "ask the market: how many field technicians could use a voice assistant?"
        print(f"\noperator -> lead: {question}")
        cursor = mob.events_log.latest
        mob.send("lead", question)
        mob.wait_idle(20)  # lead -> market -> lead: idle once every routed message is in a committed turn
        answer = mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == "lead"
                                    and e.get("text", "").startswith("market says:"), after=cursor, timeout=20)
        print(f"lead's last turn: {answer.get('text')}")
        print("\nevents so far:")
        for event in mob.events_log.after(0):
            print(event_line(event))
        print()
        show_history(mob, "lead")
        show_history(mob, "market")

        mark = mob.events_log.latest
        print(f"\nevents cursor is now {mark}")
        print("tech-1 and tech-2 are not wired (role_wiring wires market<->tech only):")
        try:
            mob.send_peer("tech-1", "tech-2", "psst")
        except WiringError as exc:
            print(f"  {type(exc).__name__} ({exc.code}): {exc}")

        before = mob.member("market").history()
        session_before = mob.member("market").info()["session_id"]
        print("\ncrash market:")
        mob.member("market").crash("chaos drill")
        restarted = mob.wait_for_event(lambda e: e.type == "member_restarted", after=mark, timeout=10)
        info = mob.member("market").info()
        after = mob.member("market").history()
        print(f"  restarted: generation {restarted.get('generation')} ({restarted.get('error')})")
        print(f"  info(): generation {info['generation']}, same session: {info['session_id'] == session_before}, "
              f"history intact: {after == before} ({len(after)} rows)")

        print("\nretire tech-2:")
        print(f"  retire -> {mob.retire('tech-2')}; again -> {mob.retire('tech-2')}")
        print(f"  members now: {[m['name'] for m in mob.members()]}")
        print(f"  its history stays readable: {len(mob.member('tech-2').history())} rows")

        print(f"\nevents after cursor {mark} (resumed, no gaps):")
        for event in mob.events(after=mark, timeout=0.5):
            print(event_line(event))
    print("mob stopped")


if __name__ == "__main__":
    main()
