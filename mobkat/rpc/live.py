"""Handlers of the eight ``live/*`` methods (registered only with ``--live-ws``).

Errors of this family are -32602 (bad request: unknown session or channel, model not realtime,
channel already bound, bad input) or -32603 (the channel or provider failed), as upstream.
"""

from __future__ import annotations

import uuid
from typing import Any

from mobkat.errors import INVALID_PARAMS, LiveInputRejectedError
from mobkat.live.inputs import check_text, decode_audio, parse_chunk
from mobkat.live.wire import AudioChunk, InputChunk, LiveOpenResult, TextChunk
from mobkat.providers.realtime_items import DEFAULT_SEED_MAX_CHARS
from mobkat.rpc.feed import ChannelFeed
from mobkat.rpc.live_socket import ChannelGrant
from mobkat.rpc.live_ws import LiveWsListener
from mobkat.rpc.params import (
    ChannelParams,
    LiveAck,
    LiveAckStatus,
    LiveCommitParams,
    LiveOpenParams,
    LiveSendInputParams,
    LiveStatusResult,
    LiveTruncateParams,
)
from mobkat.rpc.protocol import RpcError
from mobkat.rpc.realms import SessionEntry
from mobkat.rpc.registry import Call, MethodRegistry

MAX_CHANNEL_ID_BYTES = 128


def register(registry: MethodRegistry) -> None:
    family = registry.family("live", "Live audio/text channels (live/*) streamed over the --live-ws WebSocket",
                             errors="live")
    family.add("live/open", LiveOpenParams, live_open)
    family.add("live/status", ChannelParams, live_status)
    family.add("live/send_input", LiveSendInputParams, live_send_input)
    family.add("live/commit_input", LiveCommitParams, live_commit_input)
    family.add("live/interrupt", ChannelParams, live_interrupt)
    family.add("live/truncate", LiveTruncateParams, live_truncate)
    family.add("live/refresh", ChannelParams, live_refresh)
    family.add("live/close", ChannelParams, live_close)


def _invalid(message: str, kind: str = "invalid_params", **details: Any) -> RpcError:
    return RpcError(INVALID_PARAMS, message, kind=kind, details=details)


def listener_of(call: Call) -> LiveWsListener:
    """The ``--live-ws`` listener (a -32602 error when the server has none)."""
    if call.host.live is None:
        raise _invalid("live transport websocket is not configured", "live_transport_not_configured")
    return call.host.live


def publish_channel(call: Call, entry: SessionEntry, result: LiveOpenResult, feed: ChannelFeed) -> dict[str, Any]:
    """Record who owns an opened channel and mint its socket bootstrap: the wire ``LiveOpenResult``."""
    listener = listener_of(call)
    call.host.channels[result.channel_id] = entry
    transport = listener.bootstrap(ChannelGrant(result.channel_id, entry, feed))
    return result.model_copy(update={"transport": transport}).to_wire()


def revoke_channel(call: Call, channel_id: str) -> None:
    """A closed channel's unredeemed socket tokens stop working."""
    if call.host.live is not None:
        call.host.live.tokens.revoke_channel(channel_id)


def _ack(status: LiveAckStatus) -> dict[str, Any]:
    return LiveAck(status=status).model_dump()


async def live_open(call: Call, params: LiveOpenParams) -> dict[str, Any]:
    """Check the request, open the channel on the session's actor, mint the socket bootstrap."""
    listener_of(call)
    try:
        session_id = str(uuid.UUID(params.session_id))
    except ValueError:
        raise _invalid(f"invalid session_id: {params.session_id!r} is not a session id (a UUID)",
                       session_id=params.session_id) from None
    if params.seed_max_chars is not None and params.seed_max_chars <= 0:
        raise _invalid("live seed window must be greater than zero", seed_max_chars=params.seed_max_chars)
    if params.transport == "webrtc":
        raise _invalid("live transport webrtc is not configured", "live_transport_not_configured")
    entry = await call.host.sessions.get(session_id)
    feed = ChannelFeed()
    window = params.seed_max_chars if params.seed_max_chars is not None else DEFAULT_SEED_MAX_CHARS
    result: LiveOpenResult = await entry.call("live_open", params.turning_mode or "provider_managed",
                                              params.voice, feed, window)
    return publish_channel(call, entry, result, feed)


async def _entry(call: Call, channel_id: str) -> SessionEntry:
    return await call.host.channel_entry(channel_id)


async def live_status(call: Call, params: ChannelParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    status = await entry.call("live_status", params.channel_id)
    return LiveStatusResult(channel_id=params.channel_id, status=status).model_dump(mode="json", exclude_none=True)


def _checked_chunk(params: LiveSendInputParams) -> InputChunk:
    """Validate the chunk before looking the channel up (bad base64 is an error, never silence)."""
    size = len(params.channel_id.encode())
    if not 0 < size <= MAX_CHANNEL_ID_BYTES:
        raise LiveInputRejectedError(
            f"channel_id must be 1-{MAX_CHANNEL_ID_BYTES} bytes, got {size}",
            reason={"kind": "input_too_large", "max_bytes": MAX_CHANNEL_ID_BYTES, "actual_bytes": size})
    where = f"live channel {params.channel_id}"
    chunk = parse_chunk(params.chunk, where)
    if isinstance(chunk, AudioChunk):
        decode_audio(chunk, where)
    elif isinstance(chunk, TextChunk):
        check_text(chunk, where)
    return chunk


async def live_send_input(call: Call, params: LiveSendInputParams) -> dict[str, Any]:
    chunk = _checked_chunk(params)
    entry = await _entry(call, params.channel_id)
    await entry.call("live_send_input", params.channel_id, chunk)
    return _ack("sent")


async def live_commit_input(call: Call, params: LiveCommitParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    await entry.call("live_commit_input", params.channel_id, params.modality())
    return _ack("committed")


async def live_interrupt(call: Call, params: ChannelParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    await entry.call("live_interrupt", params.channel_id)
    return _ack("interrupted")


async def live_truncate(call: Call, params: LiveTruncateParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    await entry.call("live_truncate", params.channel_id, params.item_id, params.content_index,
                     params.audio_played_ms)
    return _ack("truncated")


async def live_refresh(call: Call, params: ChannelParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    await entry.call("live_refresh", params.channel_id)
    return _ack("queued")


async def live_close(call: Call, params: ChannelParams) -> dict[str, Any]:
    entry = await _entry(call, params.channel_id)
    await entry.call("live_close", params.channel_id)
    revoke_channel(call, params.channel_id)
    return _ack("closed")
