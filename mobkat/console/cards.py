"""Member cards: each member's status, live channel state and generation, derived from what the mob reports.

Status rules (one member): ``spawning`` until its live channel opens (a live member) or at once
``idle``; ``thinking`` once a peer message or a typed line reaches it; ``speaking`` while its
assistant speech streams; ``listening`` while the console streams a microphone to it; ``idle`` when
its turn commits, fails or is interrupted; ``restarting`` after a restart until it is ready again;
``broken`` for good once the supervisor gives up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mobkat.console.wire import MemberCard, MemberStatus
from mobkat.live.wire import (
    AssistantAudioChunk,
    AssistantTextDelta,
    AssistantTranscriptDelta,
    Observation,
    StatusChanged,
    TurnCompleted,
    TurnInterrupted,
)
from mobkat.mob.events import MobEvent

if TYPE_CHECKING:
    from mobkat.console.source import MobSource, RosterEntry


class CardBook:
    """The cards and the wiring of one mob; every ``on_*`` returns the cards that changed."""

    def __init__(self, source: MobSource) -> None:
        self._source = source
        self.cards: dict[str, MemberCard] = {}
        self.edges: set[tuple[str, str]] = set()

    def _new(self, name: str, profile: str, generation: int = 0) -> MemberCard:
        source = self._source
        live = source.profile_live(profile)
        card = MemberCard(name=name, profile=profile, model=source.profile_model(profile),
                          status="spawning" if live else "idle", live_capable=live, generation=generation,
                          talk_blocked=source.blocked(name))
        self.cards[name] = card
        return card

    def load_roster(self, roster: list[RosterEntry], live_states: dict[str, str | None]) -> None:
        """Start from the roster (:meth:`MobSource.roster`) and each member's live channel state."""
        for info in roster:
            name = info.name
            card = self._new(name, info.profile, info.generation)
            state = live_states.get(name)
            status: MemberStatus = "broken" if info.broken else \
                "idle" if state is not None or not card.live_capable else "spawning"
            live_capable = card.live_capable or state is not None
            self.cards[name] = card.model_copy(update={"status": status, "live": state, "live_capable": live_capable,
                                                       "talk_blocked": self._source.blocked(name)})
            for peer in info.wired_to:
                self.edges.add(_edge(name, peer))

    def set(self, name: str, **fields: Any) -> MemberCard | None:
        """Change a card; returns it if something changed (a broken member stays broken)."""
        card = self.cards.get(name)
        if card is None:
            return None
        if card.status == "broken" and fields.get("status") not in (None, "broken"):
            fields.pop("status")
        changed = card.model_copy(update=fields)
        if changed == card:
            return None
        self.cards[name] = changed
        return changed

    def on_event(self, event: MobEvent) -> list[MemberCard]:
        get = event.get
        member = get("member")
        name = member if isinstance(member, str) else ""
        kind = event.type
        changed: list[MemberCard | None] = []
        if kind == "member_spawned":
            if name not in self.cards:
                changed.append(self._new(name, str(get("role") or self._role(name)), int(get("generation") or 0)))
        elif kind == "member_restarted":
            changed.append(self.set(name, status="restarting", generation=int(get("generation") or 0)))
            if not self.cards.get(name, _NO_CARD).live_capable:
                changed.append(self.set(name, status="idle"))
        elif kind == "member_broken":
            changed.append(self.set(name, status="broken"))
        elif kind == "live_opened":
            changed.append(self.set(name, status="idle", live="ready", live_capable=True))
        elif kind == "live_failed":
            changed.append(self.set(name, status="idle", live="failed"))
        elif kind == "live_closed":
            changed.append(self.set(name, live="closed"))
        elif kind == "peer_message_routed":
            changed.append(self.set(str(get("receiver")), status="thinking"))
        elif kind in ("turn_committed", "turn_failed"):
            changed.append(self.set(name, status="idle"))
        elif kind in ("members_wired", "members_unwired"):
            edge = _edge(str(get("a")), str(get("b")))
            if kind == "members_wired":
                self.edges.add(edge)
            else:
                self.edges.discard(edge)
        return [card for card in changed if card is not None]

    def on_observation(self, name: str, observation: Observation) -> MemberCard | None:
        if isinstance(observation, AssistantAudioChunk | AssistantTranscriptDelta | AssistantTextDelta):
            return self.set(name, status="speaking")
        if isinstance(observation, TurnCompleted | TurnInterrupted):
            return self.set(name, status="idle")
        if isinstance(observation, StatusChanged):
            return self.set(name, live=observation.status.status)
        return None

    def retire(self, name: str) -> None:
        self.cards.pop(name, None)
        self.edges = {edge for edge in self.edges if name not in edge}

    def _role(self, name: str) -> str:
        return self._source.role_of(name)


_NO_CARD = MemberCard(name="", profile="", model="", status="idle")


def _edge(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)
