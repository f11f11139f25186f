"""Push over SSE and plain WebSocket: replay after the client's last event id, then live, until
the client leaves or its token expires (the SSE stream ends; the WebSocket closes with 4401)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse, ServerSentEvent

from mock_backend.auth import Identity, Refused, authenticate, bearer
from mock_backend.hub import Subscription
from mock_backend.state import Backend, backend_of
from mock_backend.store import Event

EXPIRED = "token expired"


def _last_id(header: str | None, query: int | None) -> int | None:
    if header is not None and header.strip().isdigit():
        return int(header.strip())
    return query


async def stream(
    request: Request, last_event_id: int | None = Query(None, ge=0)
) -> EventSourceResponse:
    """SSE of the user's events; `Last-Event-ID` (or `?last_event_id=`) resumes after it."""
    backend = backend_of(request)
    token = bearer(request.headers.get("authorization")) or request.query_params.get("token")
    try:
        identity = authenticate(token, backend.settings)
    except Refused as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    after = _last_id(request.headers.get("last-event-id"), last_event_id)
    return EventSourceResponse(
        _frames(backend, identity, after),
        ping=backend.settings.sse_heartbeat_seconds,
        ping_message_factory=lambda: ServerSentEvent(comment="ping"),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _frames(
    backend: Backend, identity: Identity, after: int | None
) -> AsyncIterator[ServerSentEvent]:
    gauge = backend.metrics.connections.labels("sse")
    gauge.inc()
    try:
        subscription = await backend.hub.subscribe(identity.user, "sse", after, backend.replay)
        expiry = _expire(subscription, identity)
        try:
            async for event in subscription.events():
                yield _sse(backend, event)
        finally:
            if expiry is not None:
                expiry.cancel()
            backend.hub.unsubscribe(subscription)
    finally:
        gauge.dec()


def _expire(subscription: Subscription, identity: Identity) -> asyncio.TimerHandle | None:
    """End the subscription when the token expires (a stream outliving its token would leak)."""
    if identity.expires_at is None:
        return None
    delay = max(0.0, identity.expires_at - time.time())
    return asyncio.get_running_loop().call_later(delay, subscription.stop, EXPIRED)


def _sse(backend: Backend, event: Event) -> ServerSentEvent:
    return ServerSentEvent(
        data=json.dumps(event.payload), event=backend.hub.name(event), id=str(event.event_id)
    )


async def websocket(ws: WebSocket) -> None:
    """JSON frames `{"event", "data"}`; a bad token is refused before the handshake completes."""
    backend = backend_of(ws)
    token = ws.query_params.get("token") or bearer(ws.headers.get("authorization"))
    raw_after = ws.query_params.get("last_event_id")
    try:
        identity = authenticate(token, backend.settings)
        if raw_after is not None and not raw_after.isdigit():
            raise Refused("last_event_id must be a non-negative integer")
    except Refused as exc:
        await ws.close(code=1008, reason=str(exc))
        return
    await ws.accept()
    gauge = backend.metrics.connections.labels("websocket")
    gauge.inc()
    try:
        after = int(raw_after) if raw_after is not None else None
        subscription = await backend.hub.subscribe(
            identity.user, "websocket", after, backend.replay
        )
        expiry = _expire(subscription, identity)
        reader = asyncio.create_task(_until_closed(ws, subscription))
        try:
            async for event in subscription.events():
                await ws.send_text(_frame(backend, event))
        finally:
            reader.cancel()
            if expiry is not None:
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


def _frame(backend: Backend, event: Event) -> str:
    return json.dumps({"event": backend.hub.name(event), "data": event.payload})
