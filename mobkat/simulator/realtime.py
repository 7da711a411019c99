"""One realtime WebSocket connection: the session state machine behind ``GET /v1/realtime``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import itertools
import json
import logging
import time
from typing import Any, get_args

from aiohttp import WSMsgType, web
from openai import BaseModel as SdkModel
from openai.types.realtime import RealtimeClientEvent
from pydantic import ValidationError

from mobkat.audio import duration_ms
from mobkat.simulator import bounds
from mobkat.simulator import session_config as cfg
from mobkat.simulator.client_items import item_from_client
from mobkat.simulator.control import SimulatorControl
from mobkat.simulator.conversation import Conversation, ConversationError, Item, Part
from mobkat.simulator.events import EventFactory, encode
from mobkat.simulator.real_speech import hear
from mobkat.simulator.responder import Modality, ResponseRequest, ResponseRun
from mobkat.simulator.script import ErrorSpec, SimulatorScript
from mobkat.simulator.transcripts import InputTranscripts
from mobkat.simulator.vad import InputAudioBuffer, VadEvent


def _client_event_models() -> dict[str, type[SdkModel]]:
    """The SDK's client event classes by their ``type`` literal."""
    union = get_args(RealtimeClientEvent)[0]
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(union)}


CLIENT_EVENT_MODELS = _client_event_models()
CLIENT_EVENT_TYPES = tuple(CLIENT_EVENT_MODELS)
MIN_COMMIT_MS = 100
log = logging.getLogger(__name__)
EXPIRED_MESSAGE = "Your session hit the maximum duration of 60 minutes."


class ClientEventError(Exception):
    """A client event the session rejects; becomes an ``error`` event and the connection goes on."""

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.param = message, code, param


class ConnectionDropped(Exception):
    """The socket is gone (dropped by a fault, closed, or reset by the client)."""


class RealtimeConnection:
    """Serves one client until it leaves, is dropped, or its session expires."""

    def __init__(self, control: SimulatorControl, ws: web.WebSocketResponse, request: web.Request, model: str):
        self.control = control
        self.number = control.stats.connection_opened()
        self.events = EventFactory(self.number)
        self.conversation = Conversation()
        self._ids = itertools.count(1)
        self.conversation_id = self.new_id("conv")
        self.session = cfg.default_session(model, self.new_id("sess"))
        self.response: ResponseRun | None = None
        self._ws = ws
        self._transport = request.transport
        self._buffer = InputAudioBuffer()
        self._speech_item: str | None = None
        self._transcripts = InputTranscripts(self)
        self._send_lock = asyncio.Lock()
        self._woken = asyncio.Event()
        self._gone = False
        self._opened_at = asyncio.get_running_loop().time()
        self._drop_key: tuple[int, int | None] | None = None
        self._drop_left: int | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the ResponseHost / LiveConnection sides ------------------------------------------------
    def new_id(self, kind: str) -> str:
        return f"{kind}_sim{self.number}x{next(self._ids)}"

    @property
    def script(self) -> SimulatorScript:
        return self.control.script

    def wake(self) -> None:
        self._woken.set()

    async def send(self, event: SdkModel) -> None:
        """Send one server event, honouring the delay and drop faults; records the raw frame."""
        faults = self.script.faults
        if faults.delay_s:
            await asyncio.sleep(faults.delay_s)
        async with self._send_lock:
            if self._gone or self._ws.closed:
                raise ConnectionDropped
            if self._drop_due():
                self._abort()
                raise ConnectionDropped
            raw = encode(event)
            sent_at = time.monotonic()
            try:
                await self._ws.send_str(raw)
            except (ConnectionError, RuntimeError) as exc:
                self._gone = True
                raise ConnectionDropped from exc
            self.control.stats.server_frame(self.number, raw, sent_at)
            if self._drop_left is not None:
                self._drop_left -= 1

    def _drop_due(self) -> bool:
        key = (self.control.drop_version, self.script.faults.drop_after_events)
        if key != self._drop_key:
            self._drop_key, self._drop_left = key, key[1]
        return self._drop_left is not None and self._drop_left <= 0

    def _abort(self) -> None:
        """The drop fault fired: cut the connection and let the fault clear itself if it fires once."""
        self.drop()
        self.control.drop_fired()

    def drop(self) -> None:
        """Cut the TCP connection now with no close frame, like a network failure."""
        self._gone = True
        if self._transport is not None:
            self._transport.abort()

    async def inject_error(self, spec: ErrorSpec) -> None:
        with contextlib.suppress(ConnectionDropped):
            await self.send(self.events.error(spec.message, type=spec.type, code=spec.code))
            if spec.close:
                await self._ws.close()

    async def expire(self) -> None:
        """End the session like the real service's duration cap: ``session_expired``, then close."""
        with contextlib.suppress(ConnectionDropped):
            await self.send(self.events.error(EXPIRED_MESSAGE, code="session_expired"))
            await self._ws.close()

    # -- serving --------------------------------------------------------------------------------
    async def serve(self) -> None:
        self.control.register(self.number, self)
        watcher = asyncio.create_task(self._watch_expiry())
        try:
            await self.send(self.events.session_created(self.session))
            for spec in self.control.take_pending_errors():
                await self.inject_error(spec)
            async for message in self._ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_frame(message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._on_frame(bytes(message.data).decode("utf-8", "replace"))
                else:
                    break
        except ConnectionDropped:
            pass
        except Exception:  # a simulator bug: say so and close, never hang the client
            log.exception("realtime connection %s failed", self.number)
            with contextlib.suppress(ConnectionDropped):
                await self.send(self.events.error("The simulator failed.", type="server_error", code="server_error"))
                await self._ws.close()
        finally:
            self.control.unregister(self.number)
            watcher.cancel()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(watcher, *self._tasks, return_exceptions=True)
            self.control.stats.connection_closed(self.number)

    async def _watch_expiry(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            limit = self.script.faults.expire_after_s
            timeout = None if limit is None else self._opened_at + limit - loop.time()
            if timeout is not None and timeout <= 0:
                await self.expire()
                return
            self._woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout)

    async def _on_frame(self, raw: str) -> None:
        event_id: str | None = None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            self.control.stats.client_event(self.number, "<invalid json>")
            await self._error(f"The server could not parse the event as JSON: {exc}", code="invalid_json")
            return
        event_type = data.get("type") if isinstance(data, dict) else None
        audio = data.get("audio") if event_type == "input_audio_buffer.append" else None
        audio_bytes = len(audio) * 3 // 4 - audio[-2:].count("=") if isinstance(audio, str) else 0
        self.control.stats.client_event(self.number, str(event_type), audio_bytes)
        self._woken.set()  # re-check timers on client activity too
        try:
            if not isinstance(data, dict):
                raise ClientEventError("A client event must be a JSON object.", code="invalid_json")
            event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
            if event_type not in CLIENT_EVENT_TYPES:
                raise ClientEventError(
                    f"Invalid value: {event_type!r}. Supported values are: {', '.join(CLIENT_EVENT_TYPES)}.",
                    code="invalid_value",
                    param="type",
                )
            try:
                CLIENT_EVENT_MODELS[event_type].model_validate(data)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ClientEventError(
                    f"Invalid {event_type} event: {where}: {first['msg']}", param=where or None
                ) from exc
            await getattr(self, "_on_" + str(event_type).replace(".", "_"))(data)
        except (ClientEventError, ConversationError, cfg.SessionConfigError, bounds.LimitExceeded) as exc:
            code = exc.code if isinstance(exc, ClientEventError | bounds.LimitExceeded) else "invalid_value"
            await self._error(str(exc), code=code, param=getattr(exc, "param", None), client_event_id=event_id)

    async def _error(self, message: str, **fields: Any) -> None:
        await self.send(self.events.error(message, type="invalid_request_error", **fields))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- session ----------------------------------------------------------------------------------
    async def _on_session_update(self, data: dict[str, Any]) -> None:
        merged = cfg.merge_session(self.session, data["session"])
        try:
            event = self.events.session_updated(merged)
        except ValidationError as exc:
            raise ClientEventError(f"Invalid session: {exc.errors()[0]['msg']}", param="session") from exc
        self.session = merged
        await self.send(event)

    # -- input audio --------------------------------------------------------------------------------
    async def _on_input_audio_buffer_append(self, data: dict[str, Any]) -> None:
        bounds.check_append(data["audio"], self._buffer.buffered_bytes)
        try:
            pcm = base64.b64decode(data["audio"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ClientEventError(f"audio is not valid base64: {exc}", param="audio") from exc
        detection = cfg.turn_detection(self.session)
        turns = self._buffer.append(pcm, detection)
        if detection is not None:
            for vad in turns:
                await self._on_vad(vad, detection)

    async def _on_vad(self, vad: VadEvent, detection: cfg.TurnDetection) -> None:
        if vad.kind == "started":
            self._speech_item = self.new_id("item")
            await self.send(self.events.speech_started(vad.at_ms, self._speech_item))
            if detection.interrupt_response and self.response is not None and self.response.active:
                await self.response.cancel("turn_detected")
            return
        item_id = self._speech_item or self.new_id("item")
        self._speech_item = None
        await self.send(self.events.speech_stopped(vad.at_ms, item_id))
        await self._commit_audio(vad.audio, item_id)
        if detection.create_response and (self.response is None or not self.response.active):
            self._start_response({})

    async def _on_input_audio_buffer_commit(self, data: dict[str, Any]) -> None:
        have = self._buffer.buffered_ms()
        if have < MIN_COMMIT_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {have}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self._speech_item or self.new_id("item")
        self._speech_item = None
        await self._commit_audio(self._buffer.commit(), item_id)

    async def _on_input_audio_buffer_clear(self, data: dict[str, Any]) -> None:
        self._buffer.clear()
        self._speech_item = None
        await self.send(self.events.cleared())

    async def _commit_audio(self, pcm: bytes, item_id: str) -> None:
        bounds.check_room(self.conversation)
        heard = await hear(pcm)  # tone codec first; real speech when mobkat[speech] is installed
        part = Part(type="input_audio", heard=heard.text, audio_ms=duration_ms(pcm), heard_by_ear=heard.by_ear)
        item = Item(id=item_id, type="message", role="user", parts=[part])
        previous = self.conversation.insert(item)
        await self.send(self.events.committed(item_id, previous))
        await self.send(self.events.item_added(item, previous))
        await self.send(self.events.item_done(item, previous))
        if cfg.transcription_enabled(self.session):
            await self._transcripts.committed(item_id, part)

    async def _on_output_audio_buffer_clear(self, data: dict[str, Any]) -> None:
        raise ClientEventError(
            "output_audio_buffer.clear is only supported for WebRTC and SIP connections.",
            code="unsupported_event",
            param="type",
        )

    # -- conversation ------------------------------------------------------------------------------
    async def _on_conversation_item_create(self, data: dict[str, Any]) -> None:
        item = item_from_client(data["item"], self.new_id)
        bounds.check_room(self.conversation, item)
        previous = self.conversation.insert(item, data.get("previous_item_id"))
        await self.send(self.events.item_added(item, previous))
        await self.send(self.events.item_done(item, previous))

    async def _on_conversation_item_retrieve(self, data: dict[str, Any]) -> None:
        await self.send(self.events.item_retrieved(self.conversation.require(data["item_id"])))

    async def _on_conversation_item_delete(self, data: dict[str, Any]) -> None:
        self.conversation.delete(data["item_id"])
        await self.send(self.events.item_deleted(data["item_id"]))

    async def _on_conversation_item_truncate(self, data: dict[str, Any]) -> None:
        item = self.conversation.require(data["item_id"])
        index, end_ms = data["content_index"], data["audio_end_ms"]
        if item.role != "assistant" or not 0 <= index < len(item.parts):
            raise ClientEventError("Only assistant message content can be truncated.", param="content_index")
        part = item.parts[index]
        if part.type != "output_audio":
            raise ClientEventError("Only audio content can be truncated.", param="content_index")
        if not 0 <= end_ms <= part.audio_ms:
            raise ClientEventError(
                f"audio_end_ms {end_ms} is outside the audio of this item (0..{part.audio_ms} ms).",
                param="audio_end_ms",
            )
        part.transcript = part.heard_at(end_ms)
        part.audio_ms = end_ms
        await self.send(self.events.item_truncated(item.id, index, end_ms))

    # -- responses --------------------------------------------------------------------------------
    async def _on_response_create(self, data: dict[str, Any]) -> None:
        if self.response is not None and self.response.active:
            raise ClientEventError(
                f"Conversation already has an active response in progress: {self.response.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        bounds.check_room(self.conversation)
        self._start_response(data.get("response") or {})

    def _start_response(self, params: dict[str, Any]) -> None:
        tools = params["tools"] if params.get("tools") is not None else self.session.get("tools")
        choice = params["tool_choice"] if params.get("tool_choice") is not None else self.session.get("tool_choice")
        wanted = params.get("output_modalities") or cfg.output_modalities(self.session)
        modalities: list[Modality] = ["audio"] if "audio" in wanted else ["text"]
        in_conversation = params.get("conversation", "auto") != "none"
        inputs = params.get("input")
        request = ResponseRequest(
            modalities=modalities,
            offered_tools=cfg.offered_tools(tools, choice),
            voice=((params.get("audio") or {}).get("output") or {}).get("voice") or cfg.voice(self.session),
            in_conversation=in_conversation,
            metadata=params.get("metadata"),
            input_items=[item_from_client(raw, self.new_id) for raw in inputs] if inputs is not None else None,
            conversation_id=self.conversation_id if in_conversation else None,
        )
        run = ResponseRun(self, request)
        self.response = run
        self._spawn(self._run_response(run))

    async def _run_response(self, run: ResponseRun) -> None:
        try:
            await run.run()
            await self._transcripts.after_response()  # transcripts the script holds until response.done
        except ConnectionDropped:
            await self._ws.close()
        except Exception:  # a simulator bug: report it on the wire, keep serving
            log.exception("realtime response %s failed", run.id)
            with contextlib.suppress(ConnectionDropped):
                await self.send(self.events.error("The simulator failed.", type="server_error", code="server_error"))
        finally:
            if self.response is run:
                self.response = None

    async def _on_response_cancel(self, data: dict[str, Any]) -> None:
        run = self.response
        wanted = data.get("response_id")
        if run is None or not run.active or (wanted is not None and wanted != run.id):
            raise ClientEventError("Cancellation failed: no active response found", code="response_cancel_not_active")
        await run.cancel("client_cancelled")
