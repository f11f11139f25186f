"""What uvicorn lacks against hostile clients: request deadlines, and a way to drop a connection.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but has no clock on a request
that is still arriving: a client that trickles its headers or its body a byte at a time holds its
socket as long as it likes (uvicorn issue #157, `--timeout-request-start` and
`--timeout-request-complete`, open since 2018; neither httptools nor h11 keeps time, and ASGI
middleware only runs once the headers are complete). `Deadlines` adds both: the headers must be
complete within `header_timeout` of the connection (or of a kept-alive request's first byte), the
body within `body_timeout` of the headers. A request that misses one is answered 408 and its
connection closed.

ASGI gives an app no way to drop a connection whose peer stopped reading: a close waits for the
send buffer to drain, which it never does. Both protocols here put the extension
`wasim.connection` in every scope, `{"abort": <callable>}`; calling it resets the connection at
once, a pending send returns and the app's next receive says the client left. On a WebSocket it
also has `"write"`, which writes a ready frame when the connection takes it at once (so a
fan-out can frame a message once for many connections: mock_backend/frames.py). A request cut
short by a deadline has `"timed_out": True` there, so the app can count it as the 408 it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "wasim.connection"
Phase = Literal["headers", "body"]
_BODY = b"request not received in time"
TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"x-content-type-options: nosniff\r\nconnection: close\r\n"
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


@dataclass
class Tally:
    """Connections this process's servers have closed (HTTP and WebSocket): `wasim.gcfreeze`."""

    closed: int = 0


TALLY = Tally()


@dataclass(frozen=True)
class Deadlines:
    """How long a client may take to send a request, and to come back on a kept-alive one."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 5.0


def abort_of(scope: Any) -> Callable[[], None] | None:
    """The scope's `abort` callable, or None when the server is not this module's."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    return extension.get("abort") if extension else None


def timed_out(scope: Any) -> bool:
    """Whether this request was cut short by a deadline (and answered 408)."""
    extension = scope.get("extensions", {}).get(EXTENSION)
    return bool(extension and extension.get("timed_out"))


class _DeadlineProtocol(HttpToolsProtocol):
    """httptools' protocol with one timer per request phase, armed only while a phase is open."""

    deadlines: Deadlines = Deadlines()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase: Phase | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_phase: Phase | None = None
        self._open("headers")  # a connection that never sends a byte misses it too
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        TALLY.closed += 1
        self._phase = None
        self._watch()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {EXTENSION: {"abort": self.transport.abort}}
        if self._phase is None:
            self._open("headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        upgrading = self.parser.should_upgrade() and self._should_upgrade()
        self._phase = None
        if not upgrading:
            self._open("body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._phase = None

    def _open(self, phase: Phase) -> None:
        self._phase = phase
        self._since = self.loop.time()

    def _watch(self) -> None:
        """Arm the open phase's timer (once), or cancel it when no phase is open."""
        timer = self._timer
        if timer is not None and (self._phase is None or self._timer_phase != self._phase):
            timer.cancel()
            self._timer = timer = None
        if timer is None and self._phase is not None:
            limit = (
                self.deadlines.header_timeout
                if self._phase == "headers"
                else self.deadlines.body_timeout
            )
            self._timer_phase = self._phase
            self._timer = self.loop.call_at(self._since + limit, self._late, self._phase)

    def _late(self, phase: Phase) -> None:
        self._timer = None
        if self._phase != phase or self.transport.is_closing():
            return
        self._phase = None
        cycle = self.cycle if phase == "body" else None
        if cycle is not None and cycle.response_started:
            self.transport.abort()  # mid-answer: nothing sensible left to say
            return
        self.transport.write(TIMED_OUT)
        if cycle is not None:
            cycle.scope["extensions"][EXTENSION]["timed_out"] = True
            # The app is still reading the body: it now hears that the client left, and
            # whatever it answers is dropped (the 408 went out instead).
            cycle.response_started = True
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


class _AbortableWebSocket(WebSocketsSansIOProtocol):
    """websockets' sans-I/O protocol, with the `wasim.connection` extension in its scope."""

    def write_frame(self, frame: bytes) -> bool:
        """Write a ready WebSocket frame now, if the connection can take it without waiting:
        open, no extension negotiated (the frame is not compressed), and writing not paused
        (the transport's buffer is under its high-water mark, the same bound an ASGI send
        waits on). False otherwise: the caller sends it the ASGI way."""
        transport = self.transport
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or self.conn.extensions
            or not self.writable.is_set()
            or transport.is_closing()
        ):
            return False
        transport.write(frame)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        TALLY.closed += 1
        super().connection_lost(exc)

    def start_keepalive(self) -> None:
        # Called by uvicorn right after it has sent the accepting response.
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # uvicorn keeps the handshake's request and response for the connection's life but
        # never reads them again once accepted: 2 KB per idle connection (tracemalloc).
        self.request = None  # type: ignore[assignment]
        scope = getattr(self, "scope", None)
        if scope is not None:
            scope["extensions"][EXTENSION] = {
                "abort": self.transport.abort,
                "write": self.write_frame,
            }


def http_protocol(deadlines: Deadlines) -> type[asyncio.Protocol]:
    """uvicorn's `http=` class with these deadlines."""
    return type("DeadlineProtocol", (_DeadlineProtocol,), {"deadlines": deadlines})


def ws_protocol() -> type[asyncio.Protocol]:
    """uvicorn's `ws=` class."""
    return _AbortableWebSocket
