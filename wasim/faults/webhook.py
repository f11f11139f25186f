"""A gate in front of the backend's webhook: forwards each request, or fails a share of them.

While a `webhook_errors` fault is on, each POST is, with chance `share`, answered
`500` at once or held without an answer (`timeout`: the sender gives up on its own timeout),
so the sender retries as Meta does. Every other request is forwarded to the backend's current
URL (a restart moves it) with its body and headers, and its answer passed back unchanged. It
is HTTP-aware, so it runs as an ASGI app (uvicorn in a thread: `wasim.server.ServerThread`),
unlike the byte-level `FaultProxy`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

_HOP = {"host", "content-length", "connection", "transfer-encoding"}


class WebhookGate:
    """The ASGI app; `share` and `answer` are set by the fault schedule while it runs."""

    def __init__(self, upstream: Callable[[], str]) -> None:
        self.upstream = upstream
        self.share = 0.0
        self.answer = "500"
        self.failed = 0  # POSTs failed on purpose
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            if self._http is not None:
                await self._http.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        request = Request(scope, receive)
        response = await self._handle(request)
        await response(scope, receive, send)

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        if request.method == "POST" and self.share and random.random() < self.share:
            self.failed += 1
            if self.answer == "timeout":
                await asyncio.sleep(3600)  # the sender's own timeout ends the request
            return Response("webhook_errors fault", status_code=500)
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0))
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = self.upstream() + request.url.path
        try:
            answer = await self._http.request(
                request.method, url, params=request.query_params, content=body, headers=headers
            )
        except httpx.TransportError:
            return Response("backend unreachable", status_code=502)
        kept = {
            k: v for k, v in answer.headers.items() if k.lower() not in _HOP | {"content-encoding"}
        }
        return Response(answer.content, status_code=answer.status_code, headers=kept)
