"""What keeps slow, hostile and long-lived clients from holding the backend's memory and sockets.

The policy, the same on Socket.IO, SSE and WebSocket (docs/contract.md, "Limits"):
- a push connection may have `max_buffered_events` events waiting to be sent; the event after
  that drops it, and so does one send that takes longer than `send_timeout`. A dropped client
  resumes from the last event id it holds and gets the rest from the log, once each;
- `max_connections_per_user` and `max_connections` push connections at most (per worker); past
  them a connection is refused (503, or Socket.IO `connect_error`) with the reason.

Dropping means an abort (`wasim.connections`): a client that stopped reading never drains its
socket, so a polite close would hold the socket and its buffer forever.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_backend.hub import SLOW
from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from wasim.connections import abort_of

log = logging.getLogger("mock_backend.limits")
SEND_TIMEOUT = "send timed out"
__all__ = ["SLOW", "SEND_TIMEOUT", "Full", "Gate", "drop", "dropper"]


class Full(Exception):
    """A connection cap is reached; `str(exc)` says which."""


class Gate:
    """Counts this worker's push connections, per user and in total."""

    def __init__(self, settings: Settings) -> None:
        self.per_user = settings.max_connections_per_user
        self.most = settings.max_connections
        self.open = 0
        self._of: Counter[str] = Counter()

    def admit(self, user: str) -> None:
        """Count one more connection of `user`, or raise `Full`."""
        if self.open >= self.most:
            raise Full(f"server full ({self.most} push connections open); retry later")
        if self._of[user] >= self.per_user:
            raise Full(f"too many connections for this user (at most {self.per_user})")
        self._of[user] += 1
        self.open += 1

    def release(self, user: str) -> None:
        self.open -= 1
        self._of[user] -= 1
        if self._of[user] <= 0:
            del self._of[user]


def dropper(scope: Scope, metrics: Metrics, transport: str) -> Callable[[], None]:
    """What a subscription calls when its buffer overflows."""

    def overflowed() -> None:
        drop(scope, metrics, transport, SLOW)

    return overflowed


def drop(scope: Scope, metrics: Metrics, transport: str, reason: str) -> bool:
    """Abort the connection of `scope` now; False when the server offers no way to."""
    abort = abort_of(scope)
    if abort is None:
        return False
    metrics.dropped.labels(transport, reason).inc()
    log.info("dropped a %s connection: %s", transport, reason)
    abort()
    return True


class SendDeadline:
    """Every send on a push connection must finish within `send_timeout`, or it is aborted.

    A send waits only when the client has stopped reading (the socket's buffer is full), so the
    timer costs one `call_later` per send. It wraps WebSocket scopes (Socket.IO's and the plain
    route) and the SSE stream; sse-starlette's own `send_timeout` would raise out of the app (a
    traceback per client) and leave the socket open behind it.
    """

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics) -> None:
        self.app = app
        self.timeout = settings.send_timeout
        self.stream_path = settings.stream_path
        self.socketio_path = settings.socketio_path.rstrip("/")
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            socketio = scope["path"].startswith(self.socketio_path)
            transport = "socketio" if socketio else "websocket"
        elif scope["type"] == "http" and scope["path"] == self.stream_path:
            transport = "sse"
        else:
            await self.app(scope, receive, send)
            return
        if abort_of(scope) is None:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()

        def late() -> None:
            drop(scope, self.metrics, transport, SEND_TIMEOUT)

        async def timed_send(message: Message) -> None:
            timer = loop.call_later(self.timeout, late)
            try:
                await send(message)
            finally:
                timer.cancel()

        await self.app(scope, receive, timed_send)


class PollingLimit:
    """An Engine.IO long-polling POST over the limit gets 413 and its connection closed.

    python-engineio checks the length itself but then closes the session waiting for its send
    queue to drain, which a polling client that is not polling never does: the request hangs
    until shutdown (and logs a traceback then). The body is read and dropped first (the body
    deadline bounds that): closing on unread bytes would reset the connection, and the client
    would see the reset instead of the 413.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.path = settings.socketio_path.rstrip("/")
        self.limit = settings.max_polling_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].startswith(self.path)
            and _length(scope) > self.limit
        ):
            message = await receive()
            while message["type"] == "http.request" and message.get("more_body", False):
                message = await receive()
            body = f"payload over {self.limit} bytes".encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


NOSNIFF = (b"x-content-type-options", b"nosniff")


class Nosniff:
    """Every HTTP answer says `X-Content-Type-Options: nosniff` (the handshake echoes text)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), NOSNIFF]
            await send(message)

        await self.app(scope, receive, send_nosniff)
