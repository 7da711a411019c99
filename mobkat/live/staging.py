"""Staging of a live turn until its boundary: user input, display-text lane, spoken-transcript lane."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mobkat.history import (
    AssistantBlock,
    BlockAssistantRow,
    HistoryRow,
    StopReason,
    ToolResult,
    ToolResultsRow,
    Usage,
    UserRow,
)

UNTRANSCRIBED = "[untranscribed audio]"


def heard_prefix(text: str, played_ms: float, total_ms: float, marks: Sequence[tuple[float, int]] = (), *,
                 complete: bool = True) -> str:
    """The part of ``text`` heard after ``played_ms`` of ``total_ms`` audio, cut back to a word boundary.

    ``marks`` pair the audio received with the transcript received after it (``(audio ms, characters)``,
    one per transcript delta): what was said by the last mark at or before the cursor was heard, however
    unevenly the words were spoken. Without marks the cut is proportional to the audio played.
    ``complete=False`` says ``text`` may still lag the audio (its next characters are unknown), so a cut at
    its very end may split a word: it is cut back to the last whole word.
    """
    if total_ms <= 0 or played_ms <= 0:
        return ""
    if played_ms >= total_ms:
        cut = len(text)
    elif marks:
        cut = max((chars for at, chars in marks if at <= played_ms), default=0)
    else:
        cut = int(len(text) * played_ms / total_ms)
    if cut >= len(text):
        if complete:
            return text.rstrip()
        cut = len(text)
    if cut < len(text) and text[cut].isspace():
        return text[:cut].rstrip()
    if cut > 0 and text[cut - 1].isspace():
        return text[:cut].rstrip()
    return text[:max(text.rfind(" ", 0, cut), 0)].rstrip()


@dataclass
class _ItemLane:
    parts: list[str] = field(default_factory=list)
    final: str | None = None
    frozen: str | None = None  # the text at the interrupt; what came later only helps a truncate

    @property
    def text(self) -> str:
        """All the transcript received (deltas that came after an interrupt too)."""
        return self.final if self.final is not None else "".join(self.parts)

    @property
    def kept(self) -> str:
        """What history keeps without a truncate: never what arrived after the interrupt."""
        return self.text if self.frozen is None else self.frozen


@dataclass
class ResponseLanes:
    """What one provider response produced so far, per output item."""

    response_id: str
    display: dict[str, _ItemLane] = field(default_factory=dict)
    spoken: dict[str, _ItemLane] = field(default_factory=dict)
    audio_ms: dict[str, float] = field(default_factory=dict)  # audio observed (passed on to the caller)
    received_ms: dict[str, float] = field(default_factory=dict)  # audio received, after an interrupt too
    marks: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # item → (audio ms, transcript chars)
    heard: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    done: bool = False  # response.done seen: no more transcript will come
    tool_uses: list[AssistantBlock] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def spoken_text(self, item_id: str) -> str:
        lane = self.spoken.get(item_id)
        return lane.text if lane else ""


class TurnStager:
    """Accumulates one live turn; :meth:`take_turn` yields the rows to commit and resets."""

    def __init__(self) -> None:
        # (provider item id, text or a prebuilt row) in provider order; None = transcript still pending
        self._user: list[tuple[str | None, str | HistoryRow | None]] = []
        self.responses: dict[str, ResponseLanes] = {}
        self._order: list[str] = []
        self._sealed = 0  # user entries that belong to the response in progress; later ones wait

    def seal_inputs(self) -> None:
        """A response started: the input staged so far is what it answers; later input is the next turn's."""
        self._sealed = len(self._user)

    @property
    def empty(self) -> bool:
        return not self._user and not self.responses

    @property
    def user_rows(self) -> list[HistoryRow]:
        return [entry if not isinstance(entry, str | None) else UserRow(content=entry or UNTRANSCRIBED)
                for _, entry in self._user]

    def reserve_user(self, item_id: str) -> None:
        """Keep the place of an input item whose transcript has not arrived yet."""
        self._user.append((item_id, None))

    def stage_user(self, text: str | HistoryRow, item_id: str | None = None) -> None:
        """Stage user input (text, or a typed row such as a peer notice); fills ``item_id``'s reserved place."""
        for index, (reserved, existing) in enumerate(self._user):
            if reserved is not None and reserved == item_id and existing is None:
                self._user[index] = (item_id, text)
                return
        self._user.append((item_id, text))

    def response(self, response_id: str) -> ResponseLanes:
        lanes = self.responses.get(response_id)
        if lanes is None:
            lanes = self.responses[response_id] = ResponseLanes(response_id)
            self._order.append(response_id)
        return lanes

    def item_response(self, item_id: str) -> ResponseLanes | None:
        for lanes in self.responses.values():
            if item_id in lanes.spoken or item_id in lanes.audio_ms or item_id in lanes.display:
                return lanes
        return None

    def add_display(self, response_id: str, item_id: str, delta: str) -> None:
        self.response(response_id).display.setdefault(item_id, _ItemLane()).parts.append(delta)

    def _lane(self, lanes: ResponseLanes, item_id: str) -> _ItemLane:
        lane = lanes.spoken.get(item_id)
        if lane is None:
            lane = lanes.spoken[item_id] = _ItemLane(frozen="" if lanes.interrupted else None)
        return lane

    def add_spoken(self, response_id: str, item_id: str, delta: str) -> bool:
        """Stage a transcript delta; returns False (not to be observed) once the response was interrupted.

        A delta after the interrupt is kept aside of what history keeps: under load it may describe audio
        received (and played) before the interrupt, which a truncate needs to cut where the words are."""
        lanes = self.response(response_id)
        lane = self._lane(lanes, item_id)
        lane.parts.append(delta)
        if item_id in lanes.received_ms:  # this much transcript was said by the audio received so far
            lanes.marks.setdefault(item_id, []).append((lanes.received_ms[item_id], len(lane.text)))
        return not lanes.interrupted

    def add_audio(self, response_id: str, item_id: str, ms: float) -> bool:
        """Count received audio; returns False (dropped, not observed) once the response was interrupted."""
        lanes = self.response(response_id)
        lanes.received_ms[item_id] = lanes.received_ms.get(item_id, 0.0) + ms
        if lanes.interrupted:
            return False
        lanes.audio_ms[item_id] = lanes.audio_ms.get(item_id, 0.0) + ms
        return True

    def finish_spoken(self, response_id: str, item_id: str, text: str) -> bool:
        """A final transcript overrides the deltas; returns False (not observed) if the response was
        interrupted (history then still keeps only what came before the interrupt)."""
        lanes = self.response(response_id)
        self._lane(lanes, item_id).final = text
        return not lanes.interrupted

    def finish_response(self, response_id: str) -> None:
        """``response.done``: no more transcript will come for this response."""
        self.response(response_id).done = True

    def interrupt(self, response_id: str) -> None:
        """Freeze the spoken lanes: history keeps what they hold now, never the unspoken rest."""
        lanes = self.response(response_id)
        lanes.interrupted = True
        for lane in lanes.spoken.values():
            if lane.frozen is None:
                lane.frozen = lane.text

    def covers(self, item_id: str, played_ms: float) -> bool:
        """Whether the transcript received for ``item_id`` decides what ``played_ms`` of its audio said:
        it is final, or a delta came after audio beyond the cursor (so the words there are known)."""
        lanes = self.item_response(item_id)
        if lanes is None:
            return False
        lane = lanes.spoken.get(item_id)
        return lanes.done or (lane is not None and lane.final is not None) or any(
            at > played_ms for at, _ in lanes.marks.get(item_id, ()))

    def truncate(self, item_id: str, played_ms: float) -> str | None:
        """Keep only what was heard of ``item_id``; returns the heard text (None if the item is unknown).

        If the transcript does not cover the cursor yet (:meth:`covers`), a word cut at its end is dropped."""
        lanes = self.item_response(item_id)
        if lanes is None:
            return None
        heard = heard_prefix(lanes.spoken_text(item_id), played_ms, lanes.received_ms.get(item_id, 0.0),
                             lanes.marks.get(item_id, ()), complete=self.covers(item_id, played_ms))
        lanes.heard[item_id] = heard
        return heard

    def add_tool_call(self, response_id: str, call_id: str, name: str, args: dict[str, Any]) -> None:
        self.response(response_id).tool_uses.append(AssistantBlock.tool_use(call_id, name, args))

    def add_tool_result(self, response_id: str, call_id: str, content: str, is_error: bool) -> None:
        lanes = self.responses.get(response_id)
        if lanes is not None:
            lanes.tool_results.append(ToolResult(tool_use_id=call_id, content=content, is_error=is_error))

    def _said(self, lanes: ResponseLanes) -> list[AssistantBlock]:
        blocks = [AssistantBlock.text(lane.text) for lane in lanes.display.values() if lane.text]
        for item_id, lane in lanes.spoken.items():
            # heard (truncated) text wins; after an interrupt the lane is frozen: never the unspoken rest
            text = lanes.heard.get(item_id, lane.kept).rstrip()
            if text:
                blocks.append(AssistantBlock.transcript(text))
        return blocks

    def assistant_rows(self, stop_reason: StopReason) -> list[HistoryRow]:
        """Per response: what was said, tool calls (``tool_use`` + ``tool_results`` rows), in order."""
        rows: list[HistoryRow] = []
        for index, response_id in enumerate(self._order):
            lanes = self.responses[response_id]
            blocks = self._said(lanes) + lanes.tool_uses
            if not blocks:
                continue
            last = index == len(self._order) - 1
            stop: StopReason = "tool_use" if lanes.tool_uses and not last else stop_reason
            rows.append(BlockAssistantRow(blocks=blocks, stop_reason=stop, usage=lanes.usage))
            if lanes.tool_results:
                rows.append(ToolResultsRow(results=list(lanes.tool_results)))
        return rows

    def take_turn(self, stop_reason: StopReason) -> tuple[list[HistoryRow], list[str]]:
        """The finished turn's rows (the input its responses answered, then what the assistant said and
        did) and the provider item ids of that input. Input that arrived after the response started
        stays staged for the next turn."""
        sealed = self._sealed if self.responses else len(self._user)
        mine, later = self._user[:sealed], self._user[sealed:]
        self._user = mine
        rows: list[HistoryRow] = [*self.user_rows, *self.assistant_rows(stop_reason)]
        item_ids = [item_id for item_id, _ in mine if item_id]
        self.reset()
        self._user = later
        return rows, item_ids

    def reset(self) -> None:
        self._sealed = 0
        self._user = []
        self.responses = {}
        self._order = []
