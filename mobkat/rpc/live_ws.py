"""The ``--live-ws`` listener: ``ws://HOST:PORT/live/ws?token=…&channel=…&format=pcm_24k_mono``.

Bound before the RPC server starts serving, so the advertised URL carries the real port (``:0``
works). A bad, reused, expired or foreign token gets one JSON error frame
``{"error": "live_token_rejected", "reason": ..., "message": ...}`` and close code 1008. With an
auth token (``--auth-token-file``) the upgrade must also carry ``Authorization: Bearer <secret>``
(or ``auth_token=<secret>`` in the query), else HTTP 401 before the channel token is spent.
"""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from urllib.parse import parse_qs, quote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from mobkat.live.wire import WS_FORMAT, LiveTransport
from mobkat.rpc.auth import bearer_token, token_matches
from mobkat.rpc.live_socket import MAX_FRAME_BYTES, ChannelGrant, IngressBudget, LiveSocket
from mobkat.rpc.tokens import DEFAULT_TOKEN_TTL_S, TokenBook, TokenRejected

log = logging.getLogger(__name__)

LIVE_WS_PATH = "/live/ws"
MAX_CONNECTIONS = 32
CLOSE_POLICY = 1008
STOP_GRACE_S = 1.5


class LiveWsListener:
    """Mints socket bootstraps for channels and serves the sockets."""

    def __init__(self, host: str, port: int, *, scheme: str = "ws", token_ttl_s: float = DEFAULT_TOKEN_TTL_S,
                 max_connections: int = MAX_CONNECTIONS, auth_token: str | None = None) -> None:
        self.host = host
        self.port = port
        self.scheme = scheme
        self.tokens: TokenBook[ChannelGrant] = TokenBook(token_ttl_s)
        self.budget = IngressBudget()
        self.max_connections = max_connections
        self.auth_token = auth_token
        self._server: Server | None = None
        self._active: set[ServerConnection] = set()

    async def start(self) -> LiveWsListener:
        self._server = await serve(self._serve, self.host, self.port, max_size=MAX_FRAME_BYTES,
                                   process_request=self._check_request, ping_interval=20,
                                   # a reader that falls behind gets back-pressure observations, not a
                                   # keepalive close: its pong can sit behind megabytes of queued audio
                                   ping_timeout=None,
                                   close_timeout=2, compression=None)  # audio barely compresses; deflate costs CPU
        return self

    @property
    def address(self) -> tuple[str, int]:
        """The bound address (the real port when started with port 0)."""
        if self._server is None:
            raise RuntimeError("the live WebSocket listener is not started")
        sockname = next(iter(self._server.sockets)).getsockname()
        return str(sockname[0]), int(sockname[1])

    @property
    def base_url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{shown}:{port}{LIVE_WS_PATH}"

    def bootstrap(self, grant: ChannelGrant) -> LiveTransport:
        """A fresh single-use token for ``grant``'s channel, and the URL that redeems it."""
        token = self.tokens.mint(grant.channel_id, grant)
        url = f"{self.base_url}?token={quote(token)}&channel={quote(grant.channel_id)}&format={WS_FORMAT}"
        return LiveTransport(transport="websocket", url=url, token=token)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close(close_connections=True)
            try:
                await asyncio.wait_for(server.wait_closed(), STOP_GRACE_S)
            except TimeoutError:  # a socket whose peer does not answer the close: cut it
                for ws in list(self._active):
                    ws.transport.abort()

    # -- serving -----------------------------------------------------------------------------------
    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != LIVE_WS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"not found; live sockets are at {LIVE_WS_PATH}\n")
        if self.auth_token is not None:
            presented = bearer_token(request.headers, parse_qs(urlsplit(request.path).query))
            if not token_matches(self.auth_token, presented):
                log.info("live socket refused: %s auth token", "wrong" if presented else "no")
                response = connection.respond(
                    HTTPStatus.UNAUTHORIZED, "this server requires its auth token: send 'Authorization: Bearer "
                    "<secret>' (the secret in the server's --auth-token-file)\n")
                response.headers["WWW-Authenticate"] = 'Bearer realm="mobkat-live"'
                return response
        if len(self._active) >= self.max_connections:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE,
                                      f"too many live sockets (limit {self.max_connections})\n")
        return None

    async def _serve(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        token, channel, fmt = (next(iter(query.get(key, [])), None) for key in ("token", "channel", "format"))
        try:
            grant = self.tokens.redeem(token, channel)
        except TokenRejected as rejection:
            log.info("live socket refused: %s", rejection.reason)
            try:
                await ws.send(json.dumps({"error": "live_token_rejected", "reason": rejection.reason,
                                          "message": rejection.message}))
                await ws.close(CLOSE_POLICY, rejection.reason)
            except ConnectionClosed:
                pass
            return
        self._active.add(ws)
        try:
            await LiveSocket(ws, grant, pcm_format=fmt == WS_FORMAT, budget=self.budget).run()
        finally:
            self._active.discard(ws)
