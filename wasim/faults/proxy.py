"""A TCP proxy between wasim's clients and the backend that can be made slow, cut or silent.

Each *link* is one listening port on 127.0.0.1 that forwards to the same upstream (the
backend); faults act on named links, so the bench can route push connections, polling and
webhooks over different links and hit only some of them. What a link can be made to do:

- `Impairment(latency, jitter, bandwidth)`: every chunk waits `latency ± jitter` and then its
  turn on a `bandwidth`-capped wire, in both directions, in order;
- `Impairment(blackhole=True)`: connections stay open but nothing passes (both sides stop
  being read, so TCP holds the bytes until the link is restored);
- `Impairment(down=True)`: open connections are reset (RST) and new ones are reset as they
  arrive, until the link is restored.

A healthy link writes each chunk straight through from `data_received` (asyncio protocols,
no streams and no queue), which is what keeps its cost below a fifth of a millisecond
(benchmarks/proxy.py). No root and no kernel queueing discipline: it works on any machine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
from dataclasses import dataclass

_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST instead of FIN


@dataclass(frozen=True)
class Impairment:
    """What a link does to its traffic; the default passes everything untouched."""

    latency: float = 0.0  # seconds added to each chunk, each direction
    jitter: float = 0.0  # up to this much more or less, uniformly
    bandwidth: float | None = None  # bytes per second, each direction, each connection
    blackhole: bool = False
    down: bool = False

    @property
    def delays(self) -> bool:
        return self.latency > 0 or self.jitter > 0 or self.bandwidth is not None


HEALTHY = Impairment()


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Abort with an RST, as a cut cable or a crashed middlebox looks to the other side."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
    assert isinstance(transport, asyncio.Transport)
    transport.abort()


class _Side(asyncio.Protocol):
    """One socket of a proxied connection; what it reads goes to the other side's socket."""

    def __init__(self, pair: _Pair) -> None:
        self.pair = pair
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None
        self.free_at = 0.0  # when the capped wire towards this side is free again
        self.held = False  # the peer's writes are backed up: stop reading this side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=1 << 20)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None or peer.transport is None:
            return
        impairment = self.pair.link.impairment
        if not impairment.delays and not peer.queue:
            peer.transport.write(data)
            return
        peer.enqueue(data, impairment)

    def enqueue(self, data: bytes, impairment: Impairment) -> None:
        """Deliver `data` on this side after the link's delay and its turn on the wire."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = max(impairment.latency + random.uniform(-1, 1) * impairment.jitter, 0.0)
        at = max(now + delay, self.queue[-1][0] if self.queue else 0.0)
        if impairment.bandwidth:
            at = max(at, self.free_at) + len(data) / impairment.bandwidth
            self.free_at = at
        self.queue.append((at, data))
        if self.timer is None:
            self.timer = loop.call_at(at, self._flush)

    def _flush(self) -> None:
        self.timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self.queue and self.queue[0][0] <= now:
            _, data = self.queue.popleft()
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(data)
        if self.queue:
            self.timer = loop.call_at(self.queue[0][0], self._flush)

    def pause_writing(self) -> None:
        if self.peer is not None:
            self.peer.held = True
            self.peer.follow()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.held = False
            self.peer.follow()

    def follow(self) -> None:
        """Read this side unless its peer is backed up or the link is a blackhole."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.held or not self.pair.ready or self.pair.link.impairment.blackhole:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def eof_received(self) -> bool:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.queue:
            if peer.transport.can_write_eof():
                peer.transport.write_eof()
                return True
        self.pair.close()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.pair.close()


class _Pair:
    """A client's connection and the proxy's connection upstream for it."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.client: _Side = _Downstream(self)
        self.server = _Side(self)
        self.client.peer, self.server.peer = self.server, self.client
        self.closed = False
        self.ready = False  # the upstream connection is open: the client side may be read

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.link.pairs.discard(self)
        for side in (self.client, self.server):
            transport = side.transport
            if transport is None or transport.is_closing():
                continue
            if side.queue:  # what the link still holds is lost, as on a real cut
                transport.abort()
            else:
                transport.close()

    def reset(self) -> None:
        self.closed = True
        self.link.pairs.discard(self)
        _reset(self.client.transport)
        _reset(self.server.transport)


class _Downstream(_Side):
    """The client's side: opens the upstream connection before anything is read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        link = self.pair.link
        if link.impairment.down:
            _reset(transport)
            return
        link.pairs.add(self.pair)
        assert self.transport is not None
        self.transport.pause_reading()
        link.tasks.add(task := asyncio.create_task(self._connect()))
        task.add_done_callback(link.tasks.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.pair.link.proxy.upstream
        try:
            await loop.create_connection(lambda: self.pair.server, host, port)
        except OSError:
            self.pair.reset()  # the backend is down: the client sees its connection reset
            return
        upstream = self.pair.server.transport
        sock = upstream.get_extra_info("socket") if upstream is not None else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.pair.closed:
            _reset(self.pair.server.transport)
            return
        self.pair.ready = True
        self.follow()
        self.pair.server.follow()


class _Link:
    def __init__(self, proxy: FaultProxy, name: str) -> None:
        self.proxy = proxy
        self.name = name
        self.impairment = HEALTHY
        self.pairs: set[_Pair] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    def set(self, impairment: Impairment) -> None:
        self.impairment = impairment
        if impairment.down:
            for pair in list(self.pairs):
                pair.reset()
        for pair in list(self.pairs):
            pair.client.follow()
            pair.server.follow()


class FaultProxy:
    """Links (listening ports on 127.0.0.1) forwarding to one upstream `host:port`."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.links: dict[str, _Link] = {}

    async def open_link(self, name: str) -> int:
        """Listen for link `name` on a free port and return the port."""
        link = self.links[name] = _Link(self, name)

        link.server = await asyncio.get_running_loop().create_server(
            lambda: _Pair(link).client, "127.0.0.1", 0, reuse_address=True
        )
        link.port = link.server.sockets[0].getsockname()[1]
        return link.port

    def port(self, name: str) -> int:
        return self.links[name].port

    def impair(self, names: list[str], impairment: Impairment) -> None:
        """Apply `impairment` to the links `names` (replacing what they had)."""
        for name in names:
            self.links[name].set(impairment)

    def restore(self, names: list[str]) -> None:
        self.impair(names, HEALTHY)

    def connections(self, name: str) -> int:
        return len(self.links[name].pairs)

    async def close(self) -> None:
        for link in self.links.values():
            if link.server is not None:
                link.server.close()
            for pair in list(link.pairs):
                pair.reset()
            for task in list(link.tasks):
                task.cancel()
        for link in self.links.values():
            if link.server is not None:
                with contextlib.suppress(Exception):
                    await link.server.wait_closed()
            await asyncio.gather(*link.tasks, return_exceptions=True)
