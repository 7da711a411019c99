"""The engine seam: where a member incarnation runs, and what the supervisor can do with it.

The supervisor never touches a member actor directly. It asks its :class:`MemberEngine` to start an
incarnation (a session, an identity, a profile) and gets back a :class:`MemberPort`: post routed envelopes,
open or close the live channel, stop it, ask whether it is alive. Members answer through the supervisor's
own mailbox with plain dict reports carrying their fence token, whatever engine runs them.

- :class:`LocalEngine` (the default): a pykka actor in this process, fed through a :class:`Mailbox`.
- ``mobkat.engine.ray_engine.RayEngine``: the incarnation lives in a member host on a Ray node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pykka

from mobkat.errors import MobError
from mobkat.mob.identity import MemberIdentity
from mobkat.mob.mailbox import Mailbox
from mobkat.mob.member import MemberActor, OpenLive
from mobkat.mob.messages import Envelope
from mobkat.session import Session

if TYPE_CHECKING:
    from mobkat.mob.supervisor import Supervisor


class MemberGoneError(Exception):
    """The incarnation a port points at is no longer running (its messages stay unacknowledged)."""


class MemberPort(Protocol):
    """One member incarnation, wherever it runs."""

    @property
    def where(self) -> str:
        """A short name of where it runs (``in-process``, ``Ray node <id>``), for events and errors."""

    def post(self, envelope: Envelope) -> None:
        """Hand a routed envelope over, without waiting; raises :class:`MemberGoneError` if it is not running."""

    def open_live(self) -> None:
        """Ask it to open its live channel (the supervisor does after its first committed turn)."""

    def close_live(self, timeout: float) -> None:
        """Close its live channel, waiting up to ``timeout``."""

    def stop(self, timeout: float) -> None:
        """Stop it, waiting up to ``timeout``; its running turn reports nothing any more."""

    def is_alive(self) -> bool: ...

    def local_ref(self) -> pykka.ActorRef[MemberActor]:
        """The actor itself, when it runs in this process; :class:`MobError` otherwise."""


class MemberEngine(Protocol):
    """Starts member incarnations for a supervisor."""

    def start_member(self, supervisor: Supervisor, session: Session, identity: MemberIdentity,
                     profile: str) -> MemberPort: ...

    def close(self) -> None:
        """Release what the engine holds (the supervisor has stopped every member first)."""


class LocalPort:
    """A member actor in this process and its mailbox (a fresh one per incarnation)."""

    __slots__ = ("mailbox", "ref")
    where = "in-process"

    def __init__(self, ref: pykka.ActorRef[MemberActor], mailbox: Mailbox) -> None:
        self.ref = ref
        self.mailbox = mailbox

    def post(self, envelope: Envelope) -> None:
        try:
            self.mailbox.post(envelope, self.ref)
        except pykka.ActorDeadError as exc:
            raise MemberGoneError(str(exc)) from exc

    def open_live(self) -> None:
        self.ref.tell(OpenLive())

    def close_live(self, timeout: float) -> None:
        self.ref.proxy().close_live().get(timeout=timeout)

    def stop(self, timeout: float) -> None:
        self.ref.stop(timeout=timeout)

    def is_alive(self) -> bool:
        return self.ref.is_alive()

    def local_ref(self) -> pykka.ActorRef[MemberActor]:
        return self.ref


class LocalEngine:
    """Every member a pykka actor in this process (one thread each), on the services' I/O loop."""

    def start_member(self, supervisor: Supervisor, session: Session, identity: MemberIdentity,
                     profile: str) -> LocalPort:
        mailbox = Mailbox()
        ref = MemberActor.start(session, identity, supervisor.actor_ref, supervisor.events,
                                supervisor.definition.live_settings(profile), mailbox,
                                reconnect=supervisor.reconnect, tool_timeout_s=supervisor.tool_timeout_s,
                                delivery_attempts=supervisor.delivery_attempts)
        return LocalPort(ref, mailbox)

    def close(self) -> None:
        """Nothing to release: the members were stopped by the supervisor."""


def remote_member(name: str, where: str) -> MobError:
    """The error for asking a member that runs elsewhere for its in-process actor."""
    return MobError(f"member {name} runs on {where}, not in this process: use the mob's member calls "
                    "(Mob.member(name)) instead of its actor", details={"member": name, "where": where})


__all__: list[str] = ["LocalEngine", "LocalPort", "MemberEngine", "MemberGoneError", "MemberPort",
                      "remote_member"]
