"""Socket.IO: JWT checked on connect, room `user:{id}` (or a subscription of its own when it
resumes, or with several workers), resume from `last_event_id`, expiry, the connection limits."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import engineio
import socketio
from socketio.exceptions import ConnectionRefusedError

from mock_backend import frames
from mock_backend.auth import Refused, authenticate
from mock_backend.frames import Outbox
from mock_backend.hub import SLOW, Subscription
from mock_backend.limits import Full, drop
from mock_backend.settings import Settings
from mock_backend.state import Backend
from wasim import defaults

log = logging.getLogger("mock_backend.sio")
EXPIRED = "token expired"


class _EngineIO(engineio.AsyncServer):  # type: ignore[misc]
    limit = 1_000
    overflow: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        frames.tap(self)

    def create_queue(self, *args: Any, **kwargs: Any) -> Outbox:
        return Outbox(self.limit, self.overflow)


class _Server(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _EngineIO


def make_server(settings: Settings) -> socketio.AsyncServer:
    # The manager stays in-process even with Redis: `fanout.RedisHub` brings every worker its
    # events and emits them to its own sockets, one cursor per socket.
    server = _Server(
        async_mode="asgi",
        cors_allowed_origins=settings.origins,
        max_http_buffer_size=settings.max_polling_body_bytes,
        logger=False,
        engineio_logger=False,
    )
    server.eio.limit = settings.max_buffered_events
    return server


def install_handlers(backend: Backend) -> None:
    sio = backend.sio
    metrics = backend.metrics
    gauge = metrics.connections.labels("socketio")
    expiries: dict[str, asyncio.TimerHandle] = {}
    pumps: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly
    subscriptions: dict[str, Subscription] = {}
    users: dict[str, str] = {}

    def refuse(reason: str, label: str) -> ConnectionRefusedError:
        metrics.refused.labels("socketio", label).inc()
        return ConnectionRefusedError(reason)

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        fields = auth if isinstance(auth, dict) else {}
        try:
            identity = authenticate(fields.get("token"), backend.settings)
        except Refused as exc:
            raise refuse(str(exc), "token") from None
        after = fields.get("last_event_id")
        if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
            raise refuse("last_event_id must be an integer", "last_event_id")
        try:
            backend.gate.admit(identity.user)
        except Full as exc:
            raise refuse(str(exc), "full") from None
        users[sid] = identity.user
        delay = max(0.0, identity.expires_at - time.time())
        expiries[sid] = asyncio.get_running_loop().call_later(delay, expire, sid)
        gauge.inc()
        if after is None and not backend.hub.per_connection:
            await sio.enter_room(sid, f"user:{identity.user}")
        else:
            # Runs once python-socketio has queued the CONNECT packet (after this handler returns),
            # so the client gets CONNECT, the replay, then live events: the usual Socket.IO order.
            task = sio.start_background_task(pump, sid, identity.user, after)
            pumps.add(task)
            task.add_done_callback(pumps.discard)

    def expire(sid: str) -> None:
        metrics.dropped.labels("socketio", EXPIRED).inc()
        asyncio.ensure_future(sio.disconnect(sid))

    def present(sid: str) -> bool:
        return sio.manager.eio_sid_from_sid(sid, "/") is not None

    def outbox(sid: str) -> Outbox | None:
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        socket = sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        return socket.queue if socket is not None else None

    async def pump(sid: str, user: str, after: int | None) -> None:
        """This socket's own subscription (a resume, or several workers), emitted in order.

        Its replay is paced by the socket's outbox, so a long one never trips the buffer limit;
        the hub's lock is held only while the replay is read (`Hub.subscribe`).
        """
        hub = backend.hub
        try:
            if after is not None:
                after, reset = await backend.resume_point(user, after)
                if reset is not None and present(sid):
                    await sio.emit(defaults.EVENT_RESET, reset, to=sid)
                    metrics.events.labels("socketio", defaults.EVENT_RESET).inc()
            subscription = await hub.subscribe(user, "socketio", after, backend.replay)
        except Exception:
            log.exception("subscribing Socket.IO client %s failed; disconnecting it", sid)
            await sio.disconnect(sid)
            return
        if not present(sid):  # left while subscribing; no await between this and the next line
            hub.unsubscribe(subscription)
            return
        subscriptions[sid] = subscription
        subscription.overflow = lambda: fell_behind(sid)
        timeout = backend.settings.send_timeout
        try:
            async for event in subscription.events():
                frames.emit_to_room(sio, sid, [(hub.name(event), event.payload)])  # own room
                queue = outbox(sid)
                if queue is not None and not await queue.drained(timeout):
                    fell_behind(sid)
                    break
        except Exception:
            log.exception("delivery to Socket.IO client %s failed; disconnecting it", sid)
            await sio.disconnect(sid)
        finally:
            hub.unsubscribe(subscription)

    def fell_behind(sid: str) -> None:
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        if eio_sid is not None:
            drop_socket(eio_sid)

    def overflow(queue: Outbox) -> None:
        for eio_sid, socket in list(sio.eio.sockets.items()):
            if socket.queue is queue:
                drop_socket(eio_sid)
                return

    def drop_socket(eio_sid: str) -> None:
        """Abort a WebSocket at once; close a long-polling session after what it has queued."""
        socket = sio.eio.sockets.get(eio_sid)
        if socket is None or socket.closed or socket.closing or socket.queue.dropped:
            return
        socket.queue.dropped = socket.queue.over = True  # once, and nothing more queued
        scope = sio.environ.get(eio_sid, {}).get("asgi.scope")
        if scope is not None and scope["type"] == "websocket":
            if drop(scope, metrics, "socketio", SLOW):
                return
        metrics.dropped.labels("socketio", SLOW).inc()
        log.info("dropped a socketio connection: %s", SLOW)

        async def close() -> None:
            await socket.close(wait=False, reason=SLOW)
            socket.queue.put_nowait(None)  # ends the writer or the pending poll

        asyncio.ensure_future(close())

    async def disconnect(sid: str, reason: object = None) -> None:
        timer = expiries.pop(sid, None)
        if timer is not None:
            timer.cancel()
        subscription = subscriptions.pop(sid, None)
        if subscription is not None:
            subscription.stop()
        user = users.pop(sid, None)
        if user is not None:
            backend.gate.release(user)
            gauge.dec()

    sio.eio.overflow = overflow
    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
