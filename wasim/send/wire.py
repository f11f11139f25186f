"""A lean HTTP/1.1 keep-alive client for POSTing prebuilt requests, one C parser per connection.

aiohttp spends about 200 µs of Python per POST; that caps one core near 4,000 POSTs/s, a
fraction of what a receiver can take. Here a request is one prebuilt `bytes` (request line,
headers and body) written in one call, and the answer is parsed by httptools (llhttp, in C).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import cast
from urllib.parse import urlsplit

from httptools import HttpParserError, HttpResponseParser

from wasim.errors import ConfigError

_SWEEP_S = 0.05  # how often timed-out POSTs are looked for


class WireError(Exception):
    """A POST that got no HTTP answer: refused, reset or closed connection, or a bad answer."""


def request_bytes(head: bytes, body: bytes, headers: Mapping[str, str]) -> bytes:
    """One POST as it goes on the wire: `head` (request line, Host, Accept: `Wire.head`), the
    body's headers and length, the body."""
    lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    return head + f"{lines}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body


class Wire:
    """A pool of keep-alive connections to one endpoint; open as many as POSTs in flight."""

    def __init__(self, endpoint: str, timeout: float) -> None:
        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"target URL must start with http:// or https://: {endpoint!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if url.scheme == "https" else None
        self.target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self.authority = url.netloc.rpartition("@")[2]
        self.timeout = timeout
        self.head = (
            f"POST {self.target} HTTP/1.1\r\nHost: {self.authority}\r\nAccept: */*\r\n"
        ).encode("latin-1")
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._sweeper: asyncio.TimerHandle | None = None

    def request(self, body: bytes, headers: Mapping[str, str]) -> bytes:
        """The whole POST as it goes on the wire (see `request_bytes`)."""
        return request_bytes(self.head, body, headers)

    async def post(self, request: bytes) -> int:
        """Send one prebuilt request and return the answer's status code.

        Raises TimeoutError after `timeout` seconds and WireError when no answer came.
        """
        # One coroutine frame and one future a POST: the connection files itself back as idle
        # when its answer is complete (see `_Connection`).
        idle = self._idle
        while idle:
            connection = idle.pop()
            if not connection.closed:
                try:
                    return await connection.exchange(request, time.monotonic() + self.timeout)
                except WireError:
                    # The server may close an idle keep-alive connection just as we reuse it;
                    # every HTTP client retries that once on a fresh connection.
                    if connection.answered_bytes:
                        raise
                break
        connection = await self._open()
        return await connection.exchange(request, time.monotonic() + self.timeout)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for connection in (*self._idle, *self._busy):
            connection.transport.close()
        self._idle.clear()
        self._busy.clear()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = loop.call_later(_SWEEP_S, self._sweep)
        try:
            async with asyncio.timeout(self.timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, loop), self.host, self.port, ssl=self.ssl
                )
        except OSError as exc:
            raise WireError(f"{exc.strerror or exc} ({self.authority})") from None
        return connection

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in [c for c in self._busy if c.deadline < now]:
            connection.fail(TimeoutError())
        self._sweeper = asyncio.get_running_loop().call_later(_SWEEP_S, self._sweep)


class _Connection(asyncio.Protocol):
    """One TCP connection of `pool`: at most one POST in flight (no pipelining). While one is,
    the connection is in the pool's busy set; answered, it goes back to the idle list (or is
    closed, when the server will not keep it alive)."""

    transport: asyncio.Transport

    def __init__(self, pool: Wire, loop: asyncio.AbstractEventLoop) -> None:
        self.parser = HttpResponseParser(self)
        self.pool = pool
        # Held, not looked up: asyncio.get_running_loop() makes a getpid() system call.
        self.create_future = loop.create_future
        self.waiter: asyncio.Future[int] | None = None
        self.deadline = 0.0
        self.closed = False
        self.keep_alive = True
        self.answered_bytes = 0
        self.status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def exchange(self, request: bytes, deadline: float) -> asyncio.Future[int]:
        self.waiter = waiter = self.create_future()
        self.deadline = deadline
        self.answered_bytes = self.status = 0
        self.pool._busy.add(self)
        self.transport.write(request)
        return waiter

    def data_received(self, data: bytes) -> None:
        self.answered_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserError as exc:
            self.fail(WireError(f"bad HTTP answer: {exc}"))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        waiter, self.waiter = self.waiter, None
        if waiter is None:
            return  # an answer nobody asked for
        self.pool._busy.discard(self)
        if self.keep_alive and not self.closed:
            self.pool._idle.append(self)
        else:
            self.transport.close()
        if not waiter.done():
            waiter.set_result(self.status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and self.status and self.answered_bytes:
            # An answer without a length ends when the connection does.
            self.keep_alive = False
            self.on_message_complete()
        reason = (exc and str(exc)) or "the server closed the connection"
        self.fail(WireError(reason))

    def fail(self, exc: BaseException) -> None:
        """End the POST in flight with `exc`; the connection is not reused after that."""
        self.closed = True
        self.pool._busy.discard(self)
        if not self.transport.is_closing():
            self.transport.abort()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
