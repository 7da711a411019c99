"""Builders of realtime server events, made from the ``openai`` SDK's own pydantic types.

Every event is constructed (and so validated) as the SDK's model class, then serialised with
only the fields set, so the simulator cannot drift from the SDK's idea of the protocol.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from openai import BaseModel as SdkModel
from openai.types.realtime import (
    ConversationItem,
    ConversationItemAdded,
    ConversationItemDeletedEvent,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    ConversationItemTruncatedEvent,
    InputAudioBufferClearedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    RealtimeConversationItemAssistantMessage,
    RealtimeConversationItemFunctionCall,
    RealtimeConversationItemFunctionCallOutput,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
    RealtimeError,
    RealtimeErrorEvent,
    RealtimeResponse,
    RealtimeSessionCreateRequest,
    ResponseAudioDeltaEvent,
    ResponseAudioDoneEvent,
    ResponseAudioTranscriptDeltaEvent,
    ResponseAudioTranscriptDoneEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime import realtime_conversation_item_assistant_message as assistant_msg
from openai.types.realtime import realtime_conversation_item_system_message as system_msg
from openai.types.realtime import realtime_conversation_item_user_message as user_msg
from openai.types.realtime.conversation_item_input_audio_transcription_completed_event import (
    UsageTranscriptTextUsageDuration,
)
from openai.types.realtime.conversation_item_input_audio_transcription_failed_event import (
    Error as TranscriptionError,
)
from openai.types.realtime.realtime_server_event import ConversationItemRetrieved
from openai.types.realtime.response_content_part_added_event import Part as AddedPart
from openai.types.realtime.response_content_part_done_event import Part as DonePart

from mobkat.simulator.conversation import Item, Part


@dataclass(frozen=True)
class Where:
    """Where a content event goes: response, item, output index and content index."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


def encode(event: SdkModel) -> str:
    """The JSON frame of an SDK event model (only the fields that were set)."""
    return event.model_dump_json(exclude_unset=True)


def item_model(item: Item) -> ConversationItem:
    """The SDK's view of a conversation item (audio bytes are never echoed back)."""
    if item.type == "function_call":
        return RealtimeConversationItemFunctionCall(
            id=item.id,
            type="function_call",
            object="realtime.item",
            status=item.status,
            call_id=item.call_id,
            name=item.name or "",
            arguments=item.arguments,
        )
    if item.type == "function_call_output":
        return RealtimeConversationItemFunctionCallOutput(
            id=item.id,
            type="function_call_output",
            object="realtime.item",
            status=item.status,
            call_id=item.call_id or "",
            output=item.output,
        )
    if item.role == "assistant":
        return RealtimeConversationItemAssistantMessage(
            id=item.id,
            type="message",
            role="assistant",
            object="realtime.item",
            status=item.status,
            content=[_assistant_content(p) for p in item.parts],
        )
    if item.role == "system":
        return RealtimeConversationItemSystemMessage(
            id=item.id,
            type="message",
            role="system",
            object="realtime.item",
            status=item.status,
            content=[system_msg.Content(type="input_text", text=p.text or "") for p in item.parts],
        )
    return RealtimeConversationItemUserMessage(
        id=item.id,
        type="message",
        role="user",
        object="realtime.item",
        status=item.status,
        content=[_user_content(p) for p in item.parts],
    )


def _user_content(part: Part) -> user_msg.Content:
    if part.type == "input_audio":
        return user_msg.Content(type="input_audio", transcript=part.transcript)
    return user_msg.Content(type="input_text", text=part.text or "")


def _assistant_content(part: Part) -> assistant_msg.Content:
    if part.type == "output_audio":
        return assistant_msg.Content(type="output_audio", transcript=part.transcript or "")
    return assistant_msg.Content(type="output_text", text=part.text or "")


def part_fields(part: Part) -> dict[str, Any]:
    """Fields of a ``response.content_part.*`` part for an output part."""
    if part.type == "output_audio":
        return {"type": "audio", "transcript": part.transcript or ""}
    return {"type": "text", "text": part.text or ""}


class EventFactory:
    """Builds server events with ids unique within one connection (``event_<conn>_<n>``)."""

    def __init__(self, connection: int) -> None:
        self._connection = connection
        self._counter = itertools.count(1)

    def _id(self) -> str:
        return f"event_{self._connection}_{next(self._counter)}"

    # -- session -----------------------------------------------------------------------
    def session_created(self, session: dict[str, Any]) -> SessionCreatedEvent:
        model = RealtimeSessionCreateRequest.model_validate(session)
        return SessionCreatedEvent(event_id=self._id(), type="session.created", session=model)

    def session_updated(self, session: dict[str, Any]) -> SessionUpdatedEvent:
        model = RealtimeSessionCreateRequest.model_validate(session)
        return SessionUpdatedEvent(event_id=self._id(), type="session.updated", session=model)

    def error(
        self,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        client_event_id: str | None = None,
    ) -> RealtimeErrorEvent:
        error = RealtimeError(type=type, code=code, message=message, param=param, event_id=client_event_id)
        return RealtimeErrorEvent(event_id=self._id(), type="error", error=error)

    # -- conversation --------------------------------------------------------------------
    def item_added(self, item: Item, previous_item_id: str | None) -> ConversationItemAdded:
        return ConversationItemAdded(
            event_id=self._id(),
            type="conversation.item.added",
            item=item_model(item),
            previous_item_id=previous_item_id,
        )

    def item_done(self, item: Item, previous_item_id: str | None) -> ConversationItemDone:
        return ConversationItemDone(
            event_id=self._id(),
            type="conversation.item.done",
            item=item_model(item),
            previous_item_id=previous_item_id,
        )

    def item_truncated(self, item_id: str, content_index: int, audio_end_ms: int) -> ConversationItemTruncatedEvent:
        return ConversationItemTruncatedEvent(
            event_id=self._id(),
            type="conversation.item.truncated",
            item_id=item_id,
            content_index=content_index,
            audio_end_ms=audio_end_ms,
        )

    def item_retrieved(self, item: Item) -> ConversationItemRetrieved:
        return ConversationItemRetrieved(event_id=self._id(), type="conversation.item.retrieved", item=item_model(item))

    def item_deleted(self, item_id: str) -> ConversationItemDeletedEvent:
        return ConversationItemDeletedEvent(event_id=self._id(), type="conversation.item.deleted", item_id=item_id)

    def transcription_completed(
        self, item_id: str, content_index: int, transcript: str, seconds: float
    ) -> ConversationItemInputAudioTranscriptionCompletedEvent:
        return ConversationItemInputAudioTranscriptionCompletedEvent(
            event_id=self._id(),
            type="conversation.item.input_audio_transcription.completed",
            item_id=item_id,
            content_index=content_index,
            transcript=transcript,
            usage=UsageTranscriptTextUsageDuration(type="duration", seconds=seconds),
        )

    def transcription_failed(
        self, item_id: str, content_index: int, code: str, message: str
    ) -> ConversationItemInputAudioTranscriptionFailedEvent:
        return ConversationItemInputAudioTranscriptionFailedEvent(
            event_id=self._id(),
            type="conversation.item.input_audio_transcription.failed",
            item_id=item_id,
            content_index=content_index,
            error=TranscriptionError(type="transcription_error", code=code, message=message),
        )

    # -- input audio buffer ----------------------------------------------------------------
    def speech_started(self, audio_start_ms: int, item_id: str) -> InputAudioBufferSpeechStartedEvent:
        return InputAudioBufferSpeechStartedEvent(
            event_id=self._id(),
            type="input_audio_buffer.speech_started",
            audio_start_ms=audio_start_ms,
            item_id=item_id,
        )

    def speech_stopped(self, audio_end_ms: int, item_id: str) -> InputAudioBufferSpeechStoppedEvent:
        return InputAudioBufferSpeechStoppedEvent(
            event_id=self._id(),
            type="input_audio_buffer.speech_stopped",
            audio_end_ms=audio_end_ms,
            item_id=item_id,
        )

    def committed(self, item_id: str, previous_item_id: str | None) -> InputAudioBufferCommittedEvent:
        return InputAudioBufferCommittedEvent(
            event_id=self._id(),
            type="input_audio_buffer.committed",
            item_id=item_id,
            previous_item_id=previous_item_id,
        )

    def cleared(self) -> InputAudioBufferClearedEvent:
        return InputAudioBufferClearedEvent(event_id=self._id(), type="input_audio_buffer.cleared")

    # -- responses ---------------------------------------------------------------------------
    def response_created(self, response: RealtimeResponse) -> ResponseCreatedEvent:
        return ResponseCreatedEvent(event_id=self._id(), type="response.created", response=response)

    def response_done(self, response: RealtimeResponse) -> ResponseDoneEvent:
        return ResponseDoneEvent(event_id=self._id(), type="response.done", response=response)

    def output_item_added(self, response_id: str, output_index: int, item: Item) -> ResponseOutputItemAddedEvent:
        return ResponseOutputItemAddedEvent(
            event_id=self._id(),
            type="response.output_item.added",
            response_id=response_id,
            output_index=output_index,
            item=item_model(item),
        )

    def output_item_done(self, response_id: str, output_index: int, item: Item) -> ResponseOutputItemDoneEvent:
        return ResponseOutputItemDoneEvent(
            event_id=self._id(),
            type="response.output_item.done",
            response_id=response_id,
            output_index=output_index,
            item=item_model(item),
        )

    def content_part_added(self, w: Where, part: Part) -> ResponseContentPartAddedEvent:
        return ResponseContentPartAddedEvent(
            event_id=self._id(),
            type="response.content_part.added",
            part=AddedPart(**part_fields(part)),
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def content_part_done(self, w: Where, part: Part) -> ResponseContentPartDoneEvent:
        return ResponseContentPartDoneEvent(
            event_id=self._id(),
            type="response.content_part.done",
            part=DonePart(**part_fields(part)),
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def audio_delta(self, w: Where, delta: str) -> ResponseAudioDeltaEvent:
        return ResponseAudioDeltaEvent(
            event_id=self._id(),
            type="response.output_audio.delta",
            delta=delta,
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def audio_done(self, w: Where) -> ResponseAudioDoneEvent:
        return ResponseAudioDoneEvent(
            event_id=self._id(),
            type="response.output_audio.done",
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def transcript_delta(self, w: Where, delta: str) -> ResponseAudioTranscriptDeltaEvent:
        return ResponseAudioTranscriptDeltaEvent(
            event_id=self._id(),
            type="response.output_audio_transcript.delta",
            delta=delta,
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def transcript_done(self, w: Where, transcript: str) -> ResponseAudioTranscriptDoneEvent:
        return ResponseAudioTranscriptDoneEvent(
            event_id=self._id(),
            type="response.output_audio_transcript.done",
            transcript=transcript,
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def text_delta(self, w: Where, delta: str) -> ResponseTextDeltaEvent:
        return ResponseTextDeltaEvent(
            event_id=self._id(),
            type="response.output_text.delta",
            delta=delta,
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def text_done(self, w: Where, text: str) -> ResponseTextDoneEvent:
        return ResponseTextDoneEvent(
            event_id=self._id(),
            type="response.output_text.done",
            text=text,
            response_id=w.response_id,
            item_id=w.item_id,
            output_index=w.output_index,
            content_index=w.content_index,
        )

    def arguments_delta(
        self, response_id: str, item_id: str, output_index: int, call_id: str, delta: str
    ) -> ResponseFunctionCallArgumentsDeltaEvent:
        return ResponseFunctionCallArgumentsDeltaEvent(
            event_id=self._id(),
            type="response.function_call_arguments.delta",
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            call_id=call_id,
            delta=delta,
        )

    def arguments_done(
        self, response_id: str, item_id: str, output_index: int, call_id: str, name: str, arguments: str
    ) -> ResponseFunctionCallArgumentsDoneEvent:
        return ResponseFunctionCallArgumentsDoneEvent(
            event_id=self._id(),
            type="response.function_call_arguments.done",
            response_id=response_id,
            item_id=item_id,
            output_index=output_index,
            call_id=call_id,
            name=name,
            arguments=arguments,
        )
