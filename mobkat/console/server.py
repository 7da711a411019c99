"""``Console``: the browser console's HTTP + WebSocket server (aiohttp), on its own thread and event loop.

``GET /?token=T`` is the page, ``GET /static/...`` its files (shipped in the package, no build step, no
CDN), ``GET /ws?token=T`` its WebSocket. It binds 127.0.0.1 by default and every page load and socket
must carry the per-run token (else HTTP 401 before anything is served); a socket whose ``Origin`` is
not this server is refused (403). See docs/console.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit

from aiohttp import WSMsgType, web

from mobkat.console.hub import Hub, Outbox
from mobkat.console.page import PageSession
from mobkat.console.source import LocalSource, MobSource
from mobkat.console.wire import TRANSPORT_MAX_BYTES
from mobkat.mob.mob import Mob
from mobkat.rpc.auth import token_matches
from mobkat.runtime import AsyncRuntime

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_PAGES = 16
CLOSE_POLICY = 1008
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")


class Console:
    """Serve the console for ``mob`` (a started :class:`~mobkat.mob.mob.Mob`, or any
    :class:`~mobkat.console.source.MobSource` such as :class:`~mobkat.console.remote.RemoteSource`)
    until :meth:`stop`. ``Console(mob).start().url`` is the address to open (it carries the token)."""

    def __init__(self, mob: Mob | MobSource, host: str = "127.0.0.1", port: int = 0, *, token: str | None = None,
                 max_pages: int = MAX_PAGES) -> None:
        self.source: MobSource = LocalSource(mob) if isinstance(mob, Mob) else mob
        self.mob = mob if isinstance(mob, Mob) else None
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(24)
        self.max_pages = max_pages
        self._runtime = AsyncRuntime("mobkat-console")
        self._runner: web.AppRunner | None = None
        self._hub: Hub | None = None
        self._pages: set[web.WebSocketResponse] = set()

    @property
    def url(self) -> str:
        """The page's address, token included."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}/?token={quote(self.token)}"

    def start(self) -> Console:
        self._runtime.start()
        try:
            self._runtime.run(self._start(), timeout=30)
        except BaseException:
            self._runtime.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every page and stop serving. Idempotent."""
        if not self._runtime.running:
            return
        try:
            self._runtime.run(self._stop(), timeout=10)
        finally:
            self._runtime.stop()

    def __enter__(self) -> Console:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        await self.source.open()
        self._hub = Hub(self.source)
        try:
            await self._hub.start()
        except BaseException:
            await self.source.close()
            raise
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._socket)
        app.router.add_static("/static/", STATIC, follow_symlinks=False)
        app.on_response_prepare.append(_headers)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:  # the real port when bound to port 0
            self.port = int(sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._hub is not None:
            await self._hub.stop()
        for ws in list(self._pages):
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"the mob is stopping")
        if self._runner is not None:
            await self._runner.cleanup()
        await self.source.close()

    # -- HTTP -------------------------------------------------------------------------------------------
    def _authorized(self, request: web.Request) -> bool:
        return token_matches(self.token, request.query.get("token"))

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _unauthorized()
        return web.FileResponse(STATIC / "index.html")

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return _unauthorized()
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text=f"origin {origin} may not use this console\n")
        if len(self._pages) >= self.max_pages:
            return web.Response(status=503, text=f"too many console pages (limit {self.max_pages})\n")
        hub = self._hub
        assert hub is not None
        ws = web.WebSocketResponse(max_msg_size=TRANSPORT_MAX_BYTES, heartbeat=30, compress=False)
        await ws.prepare(request)
        self._pages.add(ws)
        outbox = hub.join()
        page = PageSession(hub, outbox).start()
        writer = asyncio.get_running_loop().create_task(_write(ws, outbox))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    page.on_text(message.data)
                elif message.type == WSMsgType.BINARY:
                    page.on_binary(message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            hub.leave(outbox)
            await page.stop()
            writer.cancel()
            self._pages.discard(ws)
        return ws


async def _write(ws: web.WebSocketResponse, outbox: Outbox) -> None:
    while True:
        text = await outbox.queue.get()
        if text is None:
            reason = b"this page fell too far behind" if outbox.overflowed else b"closing"
            await ws.close(code=CLOSE_POLICY if outbox.overflowed else 1001, message=reason)
            return
        try:
            await ws.send_str(text)
        except ConnectionError:
            return


def _unauthorized() -> web.Response:
    return web.Response(status=401, text="this console needs its token: open the URL that `mobkat run --web` "
                                         "or `mobkat console` printed (it ends in ?token=...)\n")


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the page's URL
    response.headers["Cache-Control"] = "no-store"
