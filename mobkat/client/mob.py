"""Mob handles of the client SDK: ``MobHandle`` (one mob of the server) and ``MemberHandle`` (one member).

::

    mob = await client.create_mob({"id": "team", "profiles": {...}})
    await mob.spawn("lead", "lead")
    await mob.member("lead").send("ask the market: how big is it?")
    async with mob.events() as events:
        async for event in events:
            ...

Results are the pydantic models of :mod:`mobkat.rpc.mob_params`; refusals are
:class:`~mobkat.client.errors.MobRejected` subclasses (``MemberNotFound``, ``MobNotRunning``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from mobkat.client.errors import MemberNotFound
from mobkat.client.mob_calls import MemberCallsMixin
from mobkat.live.wire import LiveOpenResult, TurningMode
from mobkat.mob.definition_schema import RuntimeMode
from mobkat.mob.events import MobEvent
from mobkat.mob.messages import HandlingMode
from mobkat.wire.faults import MemberCrashResult
from mobkat.wire.flows import (
    FlowCancelResult,
    FlowRunResult,
    FlowStatusResult,
    MobFlowsResult,
    MobRun,
    RunResultEnvelope,
    RunResultResult,
)
from mobkat.wire.mob import (
    LifecycleAction,
    LifecycleResult,
    LiveControlResult,
    MemberSendResult,
    MobEventsResult,
    MobMember,
    MobMembersResult,
    MobStatusResult,
    RespawnResult,
    SpawnManyEntry,
    SpawnManyResult,
    SpawnResult,
    SpawnSpec,
    StreamEventParams,
    StreamOpenResult,
)
from mobkat.wire.session import LiveAck, LiveStatusResult, SessionHistory

if TYPE_CHECKING:
    import asyncio

    from mobkat.client.client import MobkatClient
    from mobkat.client.events import StreamItem

ControlVerb = Literal["commit_input", "interrupt", "refresh", "truncate"]


def _given(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class MobEventStream:
    """``mob/stream_event`` notifications as :class:`MobEvent` s, from the moment the stream opens.

    Use ``async with mob.events() as events: async for event in events`` (or iterate directly: the
    stream opens on first use); it ends when closed (:meth:`aclose`), or when the mob stops.
    """

    def __init__(self, mob: MobHandle, agent_identity: str | None = None) -> None:
        self.mob = mob
        self.agent_identity = agent_identity
        self.stream_id: str | None = None
        self._queue: asyncio.Queue[StreamItem] | None = None
        self._ended = False

    async def open(self) -> MobEventStream:
        if self.stream_id is None:
            client = self.mob.client
            params = _given(mob_id=self.mob.id, agent_identity=self.agent_identity, events="mob")  # structural
            raw = await client.request("mob/stream_open", params)
            self.stream_id = StreamOpenResult.model_validate(raw).stream_id
            self._queue = client.events_router.open_stream(self.stream_id)
        return self

    def __aiter__(self) -> MobEventStream:
        return self

    async def __anext__(self) -> MobEvent:
        await self.open()
        assert self._queue is not None
        item = None if self._ended else await self._queue.get()
        if item is None:
            self._ended = True
            raise StopAsyncIteration
        return StreamEventParams.model_validate(item).event

    async def aclose(self) -> None:
        """Close the stream on the server (idempotent)."""
        if self.stream_id is not None and not self._ended:
            self._ended = True
            await self.mob.client.request("mob/stream_close", {"stream_id": self.stream_id})
            self.mob.client.events_router.close_stream(self.stream_id)

    async def __aenter__(self) -> MobEventStream:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class MemberHandle:
    """One member of a mob (by identity)."""

    def __init__(self, mob: MobHandle, agent_identity: str) -> None:
        self.mob = mob
        self.agent_identity = agent_identity

    async def send(self, content: str, handling_mode: HandlingMode = "queue") -> MemberSendResult:
        """Host → member content (the member's profile must be ``external_addressable``)."""
        return await self.mob._send(self.agent_identity, content, handling_mode)

    async def info(self) -> MobMember:
        """The member's ``mob/members`` row."""
        for member in await self.mob.members():
            if member.agent_identity == self.agent_identity:
                return member
        raise MemberNotFound("member_not_found", f"mob member not found: {self.agent_identity} (mob {self.mob.id})",
                             {"mob_id": self.mob.id, "agent_identity": self.agent_identity})

    async def history(self, offset: int = 0, limit: int | None = None) -> SessionHistory:
        """One page of the member's committed history (``session/history`` of its current session)."""
        session_id = (await self.info()).current_session_id
        return await self.mob.client.read_session_history(session_id, offset, limit)

    def events(self) -> MobEventStream:
        """The mob's events about this member (spawn, wiring, messages, turns, live)."""
        return MobEventStream(self.mob, self.agent_identity)

    async def crash(self, reason: str | None = None) -> int:
        """``fault/member_crash`` (server started with ``--fault-injection``): fail the member's actor as a
        bug would; returns the crashed generation (the supervisor's restart is ``generation + 1``)."""
        result = await self.mob._call("fault/member_crash", agent_identity=self.agent_identity, reason=reason)
        return MemberCrashResult.model_validate(result).generation


class MobHandle(MemberCallsMixin):
    """A mob on the server (``client.create_mob(...)`` or ``client.mob(mob_id)``); the member calls
    (``member_status``, ``wait_ready``, ``spawn_helper``, ...) come from :class:`MemberCallsMixin`."""

    def __init__(self, client: MobkatClient, mob_id: str) -> None:
        self.client = client
        self.id = mob_id

    def __repr__(self) -> str:
        return f"MobHandle({self.id!r})"

    async def _call(self, method: str, **params: Any) -> Any:
        return await self.client.request(method, {"mob_id": self.id, **_given(**params)})

    async def status(self) -> MobStatusResult:
        return MobStatusResult.model_validate(await self._call("mob/status"))

    async def members(self) -> list[MobMember]:
        return MobMembersResult.model_validate(await self._call("mob/members")).members

    async def spawn(self, profile: str, agent_identity: str, initial_message: str | None = None, *,
                    runtime_mode: RuntimeMode | None = None, labels: dict[str, str] | None = None) -> SpawnResult:
        raw = await self._call("mob/spawn", profile=profile, agent_identity=agent_identity,
                               initial_message=initial_message, runtime_mode=runtime_mode, labels=labels)
        return SpawnResult.model_validate(raw)

    async def spawn_many(self, specs: Sequence[SpawnSpec | dict[str, Any]]) -> list[SpawnManyEntry]:
        """Spawn in order; each entry is ``spawned`` (identity, member_ref) or ``failed`` (cause, message)."""
        wire = [spec.model_dump(exclude_none=True) if isinstance(spec, SpawnSpec) else spec for spec in specs]
        return SpawnManyResult.model_validate(await self._call("mob/spawn_many", specs=wire)).results

    async def retire(self, agent_identity: str) -> bool:
        """Idempotent."""
        return bool((await self._call("mob/retire", agent_identity=agent_identity))["retired"])

    async def respawn(self, agent_identity: str, initial_message: str | None = None) -> RespawnResult:
        raw = await self._call("mob/respawn", agent_identity=agent_identity, initial_message=initial_message)
        return RespawnResult.model_validate(raw)

    async def wire(self, member: str, peer: str) -> None:
        """Wire two members (idempotent)."""
        await self._call("mob/wire", member=member, peer={"local": peer})

    async def unwire(self, member: str, peer: str) -> None:
        await self._call("mob/unwire", member=member, peer={"local": peer})

    async def lifecycle(self, action: LifecycleAction) -> LifecycleResult:
        """``stop`` (members stop; reads still work), ``resume`` (members back on their sessions), ``complete``
        (members retired, sessions archived), ``reset`` (roster emptied, Running again) or ``destroy`` (forget the
        mob). An action the mob's state does not allow raises ``InvalidParams`` (``invalid_transition``)."""
        return LifecycleResult.model_validate(await self._call("mob/lifecycle", action=action))

    def member(self, agent_identity: str) -> MemberHandle:
        return MemberHandle(self, agent_identity)

    async def _send(self, agent_identity: str, content: str, handling_mode: HandlingMode) -> MemberSendResult:
        raw = await self._call("mob/member_send", agent_identity=agent_identity, content=content,
                               handling_mode=handling_mode)
        return MemberSendResult.model_validate(raw)

    async def read_events(self, after_cursor: int = 0, limit: int = 100, *, strict: bool = False) -> list[MobEvent]:
        """Events with a cursor greater than ``after_cursor``, oldest first."""
        raw = await self._call("mob/events", after_cursor=after_cursor, limit=limit, strict=strict)
        return MobEventsResult.model_validate(raw).events

    def events(self) -> MobEventStream:
        """Every new event of the mob, as it happens (``mob/stream_open``)."""
        return MobEventStream(self)

    # -- flows (docs/flows.md) ---------------------------------------------------------------------
    async def flows(self) -> list[str]:
        """The mob's flow ids."""
        return MobFlowsResult.model_validate(await self._call("mob/flows")).flows

    async def run_flow(self, flow_id: str, params: dict[str, Any] | None = None) -> str:
        """Start a run (persisted before the answer); returns its run id."""
        raw = await self._call("mob/flow_run", flow_id=flow_id, params=params or {})
        return FlowRunResult.model_validate(raw).run_id

    async def run(self, prompt: str | None = None, params: dict[str, Any] | None = None, *,
                  flow_id: str | None = None) -> str:
        """``mob/run``: flow ``flow_id`` (default ``main``) with ``prompt`` as ``params.prompt``."""
        raw = await self._call("mob/run", prompt=prompt, params=params, flow_id=flow_id)
        return FlowRunResult.model_validate(raw).run_id

    async def flow_status(self, run_id: str) -> MobRun | None:
        """The run (status, step ledger, outputs), or ``None`` for an unknown run."""
        return FlowStatusResult.model_validate(await self._call("mob/flow_status", run_id=run_id)).run

    async def run_result(self, run_id: str) -> RunResultEnvelope | None:
        return RunResultResult.model_validate(await self._call("mob/run_result", run_id=run_id)).run

    async def cancel_flow(self, run_id: str) -> bool:
        """``True`` if an active run was canceled; ``False`` for a finished one (left as it is)."""
        return FlowCancelResult.model_validate(await self._call("mob/flow_cancel", run_id=run_id)).canceled

    # -- member live channels (the server must run with --live-ws) ----------------------------------
    async def member_live_open(self, agent_identity: str, turning_mode: TurningMode | None = None,
                               transport: Literal["websocket"] | None = None) -> LiveOpenResult:
        """The member's channel and its WebSocket bootstrap; connect with ``client.live_connect(result)``."""
        raw = await self._call("mob/member_live_open", agent_identity=agent_identity, turning_mode=turning_mode,
                               transport=transport)
        return LiveOpenResult.model_validate(raw)

    async def member_live_close(self, agent_identity: str, channel_id: str) -> LiveAck:
        raw = await self._call("mob/member_live_close", agent_identity=agent_identity, channel_id=channel_id)
        return LiveAck.model_validate(raw)

    async def member_live_status(self, agent_identity: str, channel_id: str | None = None) -> LiveStatusResult:
        """The named channel's status; without ``channel_id``, the member's active channel."""
        raw = await self._call("mob/member_live_status", agent_identity=agent_identity, channel_id=channel_id)
        return LiveStatusResult.model_validate(raw)

    async def member_live_control(self, agent_identity: str, channel_id: str, verb: ControlVerb, *,
                                  item_id: str | None = None, content_index: int | None = None,
                                  audio_played_ms: int | None = None) -> LiveControlResult:
        """``commit_input``, ``interrupt``, ``refresh``, or ``truncate`` (give item_id, content_index and
        audio_played_ms)."""
        body = {"verb": verb, **_given(item_id=item_id, content_index=content_index, audio_played_ms=audio_played_ms)}
        raw = await self._call("mob/member_live_control", agent_identity=agent_identity, channel_id=channel_id,
                               verb=body)
        return LiveControlResult.model_validate(raw)
