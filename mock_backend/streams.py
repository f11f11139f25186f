"""Push over SSE and plain WebSocket: replay after the client's last event id, then live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from sse_starlette import EventSourceResponse, ServerSentEvent

from mock_backend.auth import Identity, Refused, authenticate, bearer
from mock_backend.hub import StreamQueue
from mock_backend.state import Backend, backend_of
from mock_backend.store import Event


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
    queue = StreamQueue("sse")
    gauge = backend.metrics.connections.labels("sse")
    gauge.inc()
    try:
        for missed in await backend.hub.subscribe(identity.user, queue, after, backend.replay):
            yield _sse(backend, missed)
        while (live := await queue.get()) is not None:
            yield _sse(backend, live)
    finally:
        backend.hub.unsubscribe(identity.user, queue)
        gauge.dec()


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
    queue = StreamQueue("websocket")
    gauge = backend.metrics.connections.labels("websocket")
    gauge.inc()
    reader = asyncio.create_task(_until_closed(ws, queue))
    try:
        after = int(raw_after) if raw_after is not None else None
        for missed in await backend.hub.subscribe(identity.user, queue, after, backend.replay):
            await ws.send_text(_frame(backend, missed))
        while (live := await queue.get()) is not None:
            await ws.send_text(_frame(backend, live))
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()
        backend.hub.unsubscribe(identity.user, queue)
        gauge.dec()


async def _until_closed(ws: WebSocket, queue: StreamQueue) -> None:
    # Clients only listen; reading is how we learn they left.
    try:
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        queue.put_nowait(None)


def _frame(backend: Backend, event: Event) -> str:
    return json.dumps({"event": backend.hub.name(event), "data": event.payload})
