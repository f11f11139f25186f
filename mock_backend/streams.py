"""Push over SSE and plain WebSocket: replay after the client's last event id (or a `reset` when
the log has no such id), then live, until the client leaves, falls behind (limits.py) or its
token expires (the SSE stream ends; the WebSocket closes with 4401)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from mock_backend import origins
from mock_backend.auth import Identity, Refused, authenticate, bearer
from mock_backend.hub import Subscription
from mock_backend.limits import Full, dropper
from mock_backend.state import Backend, backend_of
from mock_backend.store import JSON, Event
from wasim import defaults

EXPIRED = "token expired"
RETRY_AFTER = {"Retry-After": "5"}


def _last_id(header: str | None, query: int | None) -> int | str | None:
    """The id to resume after; a header that is not an id is kept, to be answered with a reset."""
    if header is not None and header.strip():
        return int(header.strip()) if header.strip().isdigit() else header.strip()[:64]
    return query


async def stream(request: Request, last_event_id: int | None = Query(None, ge=0)) -> Response:
    """SSE of the user's events; `Last-Event-ID` (or `?last_event_id=`) resumes after it."""
    backend = backend_of(request)
    token = bearer(request.headers.get("authorization")) or request.query_params.get("token")
    try:
        identity = authenticate(token, backend.settings)
    except Refused as exc:
        backend.metrics.refused.labels("sse", "token").inc()
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    try:
        backend.gate.admit(identity.user)
    except Full as exc:
        backend.metrics.refused.labels("sse", "full").inc()
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=RETRY_AFTER)
    asked = _last_id(request.headers.get("last-event-id"), last_event_id)
    return _Stream(
        _frames(backend, request.scope, identity, asked),
        release=lambda: backend.gate.release(identity.user),
        ping=backend.settings.sse_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _Stream(EventSourceResponse):
    """An event stream that gives its connection back to the gate however it ends."""

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _frames(
    backend: Backend, scope: Scope, identity: Identity, asked: int | str | None
) -> AsyncIterator[ServerSentEvent]:
    gauge = backend.metrics.connections.labels("sse")
    gauge.inc()
    try:
        after = None
        if asked is not None:
            after, reset = await backend.resume_point(identity.user, asked)
            if reset is not None:
                backend.metrics.events.labels("sse", defaults.EVENT_RESET).inc()
                yield ServerSentEvent(
                    data=json.dumps(reset), event=defaults.EVENT_RESET, id=str(after)
                )
        subscription = await backend.hub.subscribe(identity.user, "sse", after, backend.replay)
        subscription.overflow = dropper(scope, backend.metrics, "sse")
        expiry = _expire(backend, "sse", subscription, identity)
        try:
            async for event in subscription.events():
                yield _sse(backend, event)
        finally:
            expiry.cancel()
            backend.hub.unsubscribe(subscription)
    finally:
        gauge.dec()


def _expire(
    backend: Backend, transport: str, subscription: Subscription, identity: Identity
) -> asyncio.TimerHandle:
    """End the subscription when the token expires (a stream outliving its token would leak)."""

    def expired() -> None:
        backend.metrics.dropped.labels(transport, EXPIRED).inc()
        subscription.stop(EXPIRED)

    delay = max(0.0, identity.expires_at - time.time())
    return asyncio.get_running_loop().call_later(delay, expired)


def _sse(backend: Backend, event: Event) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.payload), event=backend.hub.name(event), id=str(event.event_id)
    )


async def websocket(ws: WebSocket) -> None:
    """JSON frames `{"event", "data"}`; a bad token or origin is refused before the handshake."""
    backend = backend_of(ws)
    metrics = backend.metrics
    token = ws.query_params.get("token") or bearer(ws.headers.get("authorization"))
    raw_after = ws.query_params.get("last_event_id")
    origin = ws.headers.get("origin")
    label = "origin"
    try:
        # Browsers send Origin and let any page open a WebSocket: check it as CORS would.
        scheme = "https" if ws.url.scheme == "wss" else "http"
        host = ws.headers.get("host")
        if origin is not None and not origins.allowed(origin, host, scheme, backend.settings):
            raise Refused(f"origin {origin} not allowed")
        label = "token"
        identity = authenticate(token, backend.settings)
        label = "last_event_id"
        if raw_after is not None and not raw_after.isdigit():
            raise Refused("last_event_id must be a non-negative integer")
    except Refused as exc:
        metrics.refused.labels("websocket", label).inc()
        await ws.close(code=1008, reason=str(exc))
        return
    try:
        backend.gate.admit(identity.user)
    except Full as exc:
        metrics.refused.labels("websocket", "full").inc()
        answer = JSONResponse({"detail": str(exc)}, status_code=503, headers=RETRY_AFTER)
        await ws.send_denial_response(answer)
        return
    try:
        await _push(ws, backend, identity, int(raw_after) if raw_after is not None else None)
    finally:
        backend.gate.release(identity.user)


async def _push(ws: WebSocket, backend: Backend, identity: Identity, asked: int | None) -> None:
    gauge = backend.metrics.connections.labels("websocket")
    gauge.inc()
    try:
        # Subscribed before the handshake completes, so whatever is committed once the client
        # has an open WebSocket reaches it (as a Socket.IO client's room is entered on connect).
        # If that fails, the client still gets a WebSocket that then closes, as before: it
        # reconnects, where a refused handshake would look like a bad URL or token.
        try:
            after, reset = None, None
            if asked is not None:
                after, reset = await backend.resume_point(identity.user, asked)
            subscription = await backend.hub.subscribe(
                identity.user, "websocket", after, backend.replay
            )
        except Exception:
            await ws.accept()
            raise
        try:
            await ws.accept()
            if reset is not None:
                backend.metrics.events.labels("websocket", defaults.EVENT_RESET).inc()
                await ws.send_text(_frame(defaults.EVENT_RESET, reset))
        except BaseException:
            backend.hub.unsubscribe(subscription)
            raise
        subscription.overflow = dropper(ws.scope, backend.metrics, "websocket")
        expiry = _expire(backend, "websocket", subscription, identity)
        reader = asyncio.create_task(_until_closed(ws, subscription))
        try:
            async for event in subscription.events():
                await ws.send_text(_frame(backend.hub.name(event), event.payload))
        finally:
            reader.cancel()
            expiry.cancel()
            backend.hub.unsubscribe(subscription)
        if subscription.reason == EXPIRED:
            await ws.close(code=4401, reason=EXPIRED)
    except WebSocketDisconnect:
        pass
    finally:
        gauge.dec()


async def _until_closed(ws: WebSocket, subscription: Subscription) -> None:
    # Clients only listen; reading is how we learn they left.
    try:
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        subscription.stop()


def _frame(name: str, data: JSON) -> str:
    return json.dumps({"event": name, "data": data})
