"""The console in headless Chromium with a fake microphone: push-to-talk, spoken replies, barge-in, text."""

from __future__ import annotations

import time
from typing import Any

from mobkat.console import Console
from mobkat.history import BlockAssistantRow, UserRow
from mobkat.mob.mob import Mob
from tests.console.conftest import Spoken

CARD = "[data-testid=member-{}]"


def dataset(page: Any, member: str) -> dict[str, str]:
    return page.eval_on_selector(CARD.format(member), "e => Object.assign({}, e.dataset)")  # type: ignore[no-any-return]


def wait_dataset(page: Any, member: str, condition: str, timeout_ms: int = 30_000) -> None:
    """Wait until ``condition`` (JS over ``d``, the card's dataset) holds."""
    page.wait_for_function(f"() => {{ const d = document.querySelector('{CARD.format(member)}').dataset; "
                           f"return {condition}; }}", timeout=timeout_ms)


def user_rows(mob: Mob, member: str) -> list[str]:
    return [row.content for row in mob.member(member).history() if isinstance(row, UserRow)]


def wait_history(mob: Mob, member: str, predicate: Any, timeout: float = 30.0) -> list[Any]:
    cursor = 0
    deadline = time.monotonic() + timeout
    while True:
        rows = mob.member(member).history()
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{member}'s history never matched; it is {rows}")
        for event in mob.events(cursor, timeout=0.5):  # wake on the next event, not on a fixed sleep
            cursor = event.cursor
            break


def talk(page: Any, member: str, spoken: Spoken, *, listening: bool = False) -> None:
    """Click talk, let the fake mic say the WAV's words until the member heard them, click talk again
    (``listening``: check the status while talking)."""
    page.click(f"[data-testid=talk-{member}]")
    if listening:
        wait_dataset(page, member, "d.status === 'listening'")
    wait_dataset(page, member, f"d.talking === 'true' && Number(d.sentMs || 0) >= {spoken.speech_ms}")
    heard = page.locator(f"[data-testid=transcript-{member}] p.user", has_text=spoken.text)
    try:
        heard.wait_for()
    except Exception as exc:
        shown = page.inner_text(f"[data-testid=transcript-{member}]")
        raise AssertionError(f"{member} never heard {spoken.text!r}; its transcript: {shown!r}") from exc
    page.click(f"[data-testid=talk-{member}]")
    wait_dataset(page, member, "d.talking === 'false'")


def test_push_to_talk_puts_the_words_in_history_and_the_reply_is_shown_and_played(
        mob: Mob, page: Any, spoken: Spoken) -> None:
    talk(page, "host", spoken, listening=True)
    rows = wait_history(mob, "host", lambda rows: any(isinstance(r, BlockAssistantRow) and spoken.text in r.text
                                                      for r in rows))
    assert spoken.text in user_rows(mob, "host")  # the words the browser captured, committed
    reply = next(r.text for r in reversed(rows) if isinstance(r, BlockAssistantRow))
    assert reply == f"You said: {spoken.text}"
    transcript = page.locator("[data-testid=transcript-host]")
    transcript.locator("p.user", has_text=spoken.text).wait_for()
    transcript.locator("p.assistant", has_text=reply).wait_for()
    reply_ms = 20 * len(reply)  # the codec speaks 20 ms per character
    wait_dataset(page, "host", f"Number(d.playedMs) >= {reply_ms} && d.playing === 'false'")
    played = dataset(page, "host")
    assert int(played["receivedMs"]) >= reply_ms


def test_barge_in_truncates_at_the_pages_playback_cursor(mob: Mob, page: Any, spoken: Spoken) -> None:
    question = "tell me everything about the northern lighthouse and its keeper"
    page.fill("[data-testid=say-host]", question)
    page.press("[data-testid=say-host]", "Enter")
    full = f"You said: {question}"
    wait_dataset(page, "host", "d.playing === 'true' && Number(d.playedMs) >= 400")
    talk(page, "host", spoken)  # talking while the member speaks: a barge-in
    card = dataset(page, "host")
    cursor = int(card["bargeInMs"])
    wait_dataset(page, "host", f"d.truncatedMs === '{cursor}'")
    heard = dataset(page, "host")["heard"]
    assert 400 <= cursor < 20 * len(full)
    assert heard and full.startswith(heard) and len(heard) <= cursor // 20  # no more than the cursor carried
    rows = wait_history(mob, "host", lambda rows: any(isinstance(r, BlockAssistantRow) and r.stop_reason == "cancelled"
                                                      for r in rows))
    cut = next(r for r in rows if isinstance(r, BlockAssistantRow) and r.stop_reason == "cancelled")
    assert cut.text == heard  # history keeps exactly what the page played
    page.locator("[data-testid=transcript-host] p.assistant.cut", has_text=heard).wait_for()
    # the barge-in itself was heard and answered
    wait_history(mob, "host", lambda rows: spoken.text in [r.content for r in rows if isinstance(r, UserRow)])


def test_text_box_sends_a_turn_to_a_text_member(mob: Mob, page: Any) -> None:
    page.fill("[data-testid=say-researcher]", "hello from the browser")
    page.press("[data-testid=say-researcher]", "Enter")
    wait_history(mob, "researcher", lambda rows: "hello from the browser" in
                 [r.content for r in rows if isinstance(r, UserRow)])
    transcript = page.locator("[data-testid=transcript-researcher]")
    transcript.locator("p.user", has_text="hello from the browser").wait_for()
    transcript.locator("p.assistant", has_text="hello from the browser").wait_for()
    assert page.get_attribute("[data-testid=talk-researcher]", "hidden") is not None  # no live channel: no talk
    wait_dataset(page, "researcher", "d.status === 'idle'")  # thinking while its turn ran, idle once committed


def test_cards_show_profile_model_status_and_wiring(page: Any, console: Console) -> None:
    host = page.locator("[data-testid=member-host]")
    assert host.locator("[data-testid=status-host]").inner_text() == "idle"
    assert host.locator("[data-field=model]").inner_text() == "gpt-realtime-2"
    assert host.locator("[data-field=live]").inner_text() == "ready"
    assert page.locator("[data-testid=member-researcher] [data-field=model]").inner_text() == "gpt-5.5"
    assert page.locator("[data-testid=wiring]").inner_text() == "host ↔ researcher"
