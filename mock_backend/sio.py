"""Socket.IO: JWT checked on connect, room `user:{id}` (or, with several workers, a subscription
per socket), resume from `last_event_id`, expiry."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import socketio
from socketio.exceptions import ConnectionRefusedError

from mock_backend.auth import Refused, authenticate
from mock_backend.hub import Subscription
from mock_backend.settings import Settings
from mock_backend.state import Backend

log = logging.getLogger("mock_backend.sio")


def make_server(settings: Settings) -> socketio.AsyncServer:
    # The manager stays in-process even with Redis: `fanout.RedisHub` brings every worker its
    # events and emits them to its own sockets, one cursor per socket.
    return socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=[settings.frontend_origin],
        logger=False,
        engineio_logger=False,
    )


def install_handlers(backend: Backend) -> None:
    sio = backend.sio
    gauge = backend.metrics.connections.labels("socketio")
    expiries: dict[str, asyncio.TimerHandle] = {}
    resuming: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly
    subscriptions: dict[str, Subscription] = {}

    async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> None:
        fields = auth if isinstance(auth, dict) else {}
        try:
            identity = authenticate(fields.get("token"), backend.settings)
        except Refused as exc:
            raise ConnectionRefusedError(str(exc)) from None
        after = fields.get("last_event_id")
        if after is not None and (not isinstance(after, int) or isinstance(after, bool)):
            raise ConnectionRefusedError("last_event_id must be an integer")
        if identity.expires_at is not None:
            delay = max(0.0, identity.expires_at - time.time())
            expiries[sid] = asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(sio.disconnect(sid))
            )
        gauge.inc()
        room = f"user:{identity.user}"
        if after is None and not backend.hub.per_connection:
            await sio.enter_room(sid, room)
        else:
            # Runs once python-socketio has queued the CONNECT packet (after this handler returns),
            # so the client gets CONNECT, the replay, then live events: the usual Socket.IO order.
            job = pump if backend.hub.per_connection else resume
            task = sio.start_background_task(job, sid, identity.user, after)
            resuming.add(task)
            task.add_done_callback(resuming.discard)

    def present(sid: str) -> bool:
        return sio.manager.eio_sid_from_sid(sid, "/") is not None

    async def resume(sid: str, user: str, after: int) -> None:
        """Replay what `sid` missed, then join its room, all under the hub lock (exactly once).

        The socket may leave while this waits for the lock or the database: then there is nothing
        to do (it resumes from its own last id next time), and joining a room would raise. If the
        replay fails, the socket is dropped rather than left connected without its events.
        """
        try:
            async with backend.hub.lock:
                if not present(sid):
                    return
                for event in await backend.replay(user, after):
                    if not present(sid):
                        return
                    await sio.emit(backend.hub.name(event), event.payload, to=sid)
                    backend.metrics.events.labels("socketio", event.kind).inc()
                if present(sid):  # no await between this check and the join
                    await sio.enter_room(sid, f"user:{user}")
        except Exception:
            log.exception("replay to Socket.IO client %s failed; disconnecting it", sid)
            await sio.disconnect(sid)

    async def pump(sid: str, user: str, after: int | None) -> None:
        """With several workers: this socket's own subscription, emitted to it in order."""
        hub = backend.hub
        try:
            subscription = await hub.subscribe(user, "socketio", after, backend.replay)
        except Exception:
            log.exception("subscribing Socket.IO client %s failed; disconnecting it", sid)
            await sio.disconnect(sid)
            return
        if not present(sid):  # left while subscribing; no await between this and the next line
            hub.unsubscribe(subscription)
            return
        subscriptions[sid] = subscription
        try:
            async for event in subscription.events():
                await sio.emit(hub.name(event), event.payload, to=sid)
        except Exception:
            log.exception("delivery to Socket.IO client %s failed; disconnecting it", sid)
            await sio.disconnect(sid)
        finally:
            hub.unsubscribe(subscription)

    async def disconnect(sid: str, reason: object = None) -> None:
        timer = expiries.pop(sid, None)
        if timer is not None:
            timer.cancel()
        subscription = subscriptions.pop(sid, None)
        if subscription is not None:
            subscription.stop()
        gauge.dec()

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
