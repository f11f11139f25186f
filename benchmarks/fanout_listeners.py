"""The listener side of benchmarks/fanout.py: thousands of raw Socket.IO v4 clients per process.

Each client is an asyncio `Protocol` that speaks just enough of RFC 6455, Engine.IO v4 and
Socket.IO v5 to authenticate (`40{"token": …}`), answer heartbeats and read events: server
frames are parsed in `data_received` with no task, future or JSON decode per frame. A
`new_message` frame is recognised by its prefix and its message id (`wamid.FAN<run><seq>`) is
read with one `find`; the seq gives the webhook's scheduled send time (t0 + seq / rate), so the
latency of every delivery is known on the spot. That keeps the instrument's own cost to a few
microseconds a frame (it reports its CPU), far below either server's.
"""

from __future__ import annotations

import asyncio
import base64
import os
import resource
import struct
import time
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

CONNECT_CONCURRENCY = 200
CONNECT_TIMEOUT = 60.0


@dataclass
class Plan:
    """What one listener process needs: where to connect, whom as, and the send schedule."""

    host: str
    port: int
    path: str  # the Socket.IO path, e.g. /socket.io
    users: list[int]  # one entry per connection: the index of its user
    tokens: dict[int, str]
    user_count: int
    total: int  # webhooks sent, numbered 0..total-1; webhook i goes to user i % user_count
    warmup: int  # webhooks not measured
    rate: float
    tag: bytes  # b"wamid.FAN<run>": what every sent message id starts with
    event: bytes = b"new_message"


@dataclass
class Tally:
    """Shared by one process's clients."""

    plan: Plan
    t0: float = 0.0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    received: int = 0
    duplicates: int = 0
    foreign: int = 0  # new_message frames whose id is not this run's
    other_frames: int = 0


class SocketIOClient(asyncio.Protocol):
    def __init__(self, tally: Tally, user: int, auth: bytes, request: bytes) -> None:
        self.tally = tally
        self.user = user
        self.auth = auth
        self.request = request
        plan = tally.plan
        # Webhooks i with i % user_count == user; slot k holds i = user + k * user_count.
        self.got = bytearray((plan.total - user + plan.user_count - 1) // plan.user_count)
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.prefix = b'42["' + plan.event + b'"'

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(str(exc or "closed during the handshake")))

    def send_text(self, payload: bytes) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        length = len(payload)
        header = (
            bytes([0x81, 0x80 | length])
            if length < 126
            else struct.pack("!BBH", 0x81, 0xFE, length)
        )
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.transport.write(header + mask + masked)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self._fail(f"no WebSocket upgrade: {bytes(buf[:40])!r}")
                return
            del buf[: end + 4]
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if size - start < length:
                break
            opcode = buf[pos] & 0x0F
            payload = bytes(buf[start : start + length])
            pos = start + length
            if opcode == 1:
                self._text(payload, now)
            elif opcode == 9:
                assert self.transport is not None
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 8:
                self.closed = True
        del buf[:pos]

    def _text(self, payload: bytes, now: float) -> None:
        if payload.startswith(self.prefix):
            tally = self.tally
            plan = tally.plan
            at = payload.find(plan.tag)
            if at < 0:
                tally.foreign += 1
                return
            digits = at + len(plan.tag)
            seq = int(payload[digits : digits + 8])
            slot = seq // plan.user_count
            if self.got[slot]:
                tally.duplicates += 1
                return
            self.got[slot] = 1
            tally.received += 1
            if seq >= plan.warmup:
                tally.latencies.append(now - tally.t0 - seq / plan.rate)
        elif payload.startswith(b"42"):
            self.tally.other_frames += 1
        elif payload == b"2":
            self.send_text(b"3")
        elif payload.startswith(b"40"):
            if not self.ready.done():
                self.ready.set_result(None)
        elif payload.startswith(b"0"):
            self.send_text(self.auth)
        elif payload.startswith(b"44"):
            self._fail(f"refused: {payload[2:200]!r}")

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
        if self.transport is not None:
            self.transport.abort()

    def expected(self) -> int:
        return len(self.got)

    def missing(self) -> int:
        return len(self.got) - sum(self.got)


def _upgrade_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path.rstrip('/')}/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def _connect(plan: Plan, tally: Tally) -> tuple[list[SocketIOClient], int]:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    auths = {u: b'40{"token":"' + t.encode() + b'"}' for u, t in plan.tokens.items()}
    clients: list[SocketIOClient] = []
    failed = 0

    async def one(user: int) -> None:
        nonlocal failed
        async with gate:
            request = _upgrade_request(plan.host, plan.port, plan.path)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    _, client = await loop.create_connection(
                        lambda: SocketIOClient(tally, user, auths[user], request),
                        plan.host,
                        plan.port,
                    )
                    await client.ready
            except (OSError, TimeoutError):
                failed += 1
                return
            clients.append(client)

    await asyncio.gather(*(one(u) for u in plan.users))
    return clients, failed


def listener_process(plan: Plan, pipe: Connection) -> None:
    """Child process: connect, say ready, take t0, count until every delivery or told to stop."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    import uvloop

    uvloop.run(_listen(plan, pipe))


async def _listen(plan: Plan, pipe: Connection) -> None:
    import gc

    tally = Tally(plan)
    clients, failed = await _connect(plan, tally)
    gc.collect()
    gc.freeze()  # the clients live for the whole run: keep them out of the collector
    pipe.send(("ready", len(clients), failed))
    while not pipe.poll():
        await asyncio.sleep(0.01)
    tally.t0 = pipe.recv()
    cpu0 = time.process_time()
    expected = sum(c.expected() for c in clients)
    last = 0.0
    while True:
        if tally.received >= expected:
            break
        if pipe.poll():
            pipe.recv()  # "stop"
            break
        before = tally.received
        await asyncio.sleep(0.01)
        if tally.received != before:
            last = time.monotonic()
    cpu = time.process_time() - cpu0
    window = (last or time.monotonic()) - tally.t0
    result: dict[str, Any] = {
        "latencies": tally.latencies.tobytes(),
        "received": tally.received,
        "expected": expected,
        "missing": sum(c.missing() for c in clients),
        "duplicates": tally.duplicates,
        "foreign": tally.foreign,
        "other_frames": tally.other_frames,
        "closed": sum(c.closed for c in clients),
        "cpu": cpu,
        "window": window,
    }
    pipe.send(("done", result))
    # Held until the parent has read the server's CPU: closing thousands of connections costs the
    # server CPU of its own (quadratic in python-socketio), which is not fan-out.
    while not pipe.poll():
        await asyncio.sleep(0.01)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
