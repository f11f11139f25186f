"""Socket.IO fan-out that encodes an event once per room and writes the ready frame to each socket.

python-socketio's `emit(room=…)` encodes the Socket.IO packet once, but then starts one task per
socket (`_send_eio_packet`), each of which checks the ping clock and queues the Engine.IO packet;
that socket's writer task then wakes up (a `wait_for` task around `queue.get()` in `poll()`, so
two task steps), encodes the packet and sends it through engineio's ASGI wrapper and uvicorn's
`send`, which frames it. Measured with 5,000 listeners (50 rooms of 100, 75 webhooks/s) that
path cost 377 us of server CPU per delivery against the seed's Node.js backend's 82 us, and the
server fell behind (benchmarks/fanout.py --shape 5k).

Here the room's events (those one commit made for that user, in order) become Engine.IO packets
and their WebSocket frames, joined into one `bytes`, and each socket gets either:
- the frames, in one write straight to its transport (`wasim.connections`' `write`
  extension), when its writer is idle with nothing queued or in hand (so nothing can overtake
  them) and writing is not paused (so the transport's buffer stays under the high-water mark an
  ASGI send waits on): one `send()` per socket per commit, where socket.io makes one per event;
  or
- the packets, put in order in its `Outbox`: the same bounded queue, with the same drop policy,
  that every other Socket.IO packet goes through, and that its writer task drains in order.

Several python-engineio internals are relied on (tests/test_engineio_hooks.py fails when they
change): `AsyncServer.sockets`, an `AsyncSocket`'s `queue` (made by `create_queue`),
`upgraded` and `closed`, that its writer reads the queue with `get()` and sends each packet before
it reads again, and the ASGI driver's `_async['websocket']` class, built with the socket's
`_websocket_handler` as its handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import engineio
from engineio import packet as eio_packet
from engineio.async_drivers import asgi as eio_asgi
from socketio import packet as sio_packet
from websockets.frames import Frame, Opcode

from wasim.connections import EXTENSION

Write = Callable[[bytes], bool]


class Outbox(asyncio.Queue[Any]):
    """One Engine.IO socket's send queue, holding at most `limit` messages.

    The message past the limit is not queued: `overflow` is called once instead, to drop the
    socket (it resumes from its last event id). Control packets (ping, close, the writer's
    stop) always pass. `write` and `socket` are set while the socket is on a WebSocket that
    takes ready frames (see the module docstring).
    """

    def __init__(self, limit: int, overflow: Any) -> None:
        super().__init__()
        self.limit = limit
        self.overflow = overflow
        self.over = False  # no more messages are queued
        self.dropped = False
        self.write: Write | None = None
        self.socket: Any = None  # the engineio socket, while `write` is set
        self._waiting = False  # the writer waits in get() on an empty queue
        self._drained: asyncio.Event | None = None

    def put_nowait(self, item: Any) -> None:
        if isinstance(item, eio_packet.Packet) and item.packet_type == eio_packet.MESSAGE:
            if self.over:
                return
            if self.qsize() >= self.limit:
                self.over = True
                self.overflow(self)
                return
        super().put_nowait(item)

    async def get(self) -> Any:
        self._waiting = True
        try:
            return await super().get()
        finally:
            self._waiting = False

    def idle(self) -> bool:
        """The writer has sent all it took and waits for more: a direct write stays in order.

        A packet put meanwhile stays in the queue until the writer's task runs again, so
        `qsize()` covers the time between the wake-up and the writer taking it.
        """
        return self._waiting and not self.qsize()

    def direct(self) -> bool:
        """A ready frame may be written now: on an upgraded WebSocket, with the writer idle."""
        socket = self.socket
        return self.write is not None and socket is not None and socket.upgraded and self.idle()

    def _get(self) -> Any:
        item = super()._get()
        if self._drained is not None and self.qsize() <= self.limit // 2:
            self._drained.set()
        return item

    async def drained(self, timeout: float) -> bool:
        """Wait until at most half the limit is queued; False if that takes over `timeout`."""
        if self.qsize() <= self.limit // 2:
            return True
        self._drained = asyncio.Event()
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
            return True
        except TimeoutError:
            return False
        finally:
            self._drained = None


class TappedWebSocket(eio_asgi.WebSocket):  # type: ignore[misc]
    """engineio's ASGI WebSocket that lends its socket's outbox the connection's `write`."""

    async def __call__(self, environ: dict[str, Any]) -> str:
        socket = getattr(self.handler, "__self__", None)
        outbox = getattr(socket, "queue", None)
        scope = environ.get("asgi.scope", {})
        write = scope.get("extensions", {}).get(EXTENSION, {}).get("write")
        # A WebSocket has no request body, but engineio's ASGI environ holds a reader for it,
        # an instance of a class it defines per request: 2.8 KB per connection (tracemalloc).
        environ.pop("wsgi.input", None)
        if not isinstance(outbox, Outbox) or write is None:
            return await super().__call__(environ)  # type: ignore[no-any-return]
        outbox.write, outbox.socket = write, socket
        try:
            return await super().__call__(environ)  # type: ignore[no-any-return]
        finally:
            outbox.write = outbox.socket = None


def tap(server: engineio.AsyncServer) -> None:
    """Make `server` build its WebSockets as `TappedWebSocket` (its drivers dict is shared)."""
    server._async = {**server._async, "websocket": TappedWebSocket}


def emit_to_room(
    server: Any, room: str, messages: Sequence[tuple[str, Any]], namespace: str = "/"
) -> list[int]:
    """Send each `(event, data)` in `messages`, in order, to every socket in `room`.

    Returns, for each message, the number of sockets it was written or queued to. Each message
    is the packet `AsyncServer.emit(event, data, room=room)` sends without a callback. An idle
    socket gets all of them in one write of consecutive frames: one `send()` per socket, where
    a write per message makes one per message (uvloop sends at once when its buffer is empty).
    """
    participants = list(server.manager.get_participants(namespace, room))
    if not participants or not messages:
        return [0] * len(messages)
    packets = [
        eio_packet.Packet(
            eio_packet.MESSAGE,
            server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, data]).encode(),
        )
        for event, data in messages
    ]
    frames: bytes | None = None
    sockets = server.eio.sockets
    queued = [0] * len(packets)
    written = 0
    for _, eio_sid in participants:
        socket = sockets.get(eio_sid)
        if socket is None or socket.closed:
            continue
        outbox = socket.queue
        if not isinstance(outbox, Outbox):
            continue
        write = outbox.write
        if write is not None and outbox.direct():
            if frames is None:
                frames = b"".join(
                    Frame(Opcode.TEXT, p.encode().encode()).serialize(mask=False) for p in packets
                )
            if write(frames):
                written += 1
                continue
        for i, message in enumerate(packets):
            if outbox.over:
                break
            outbox.put_nowait(message)
            queued[i] += not outbox.over
    return [written + n for n in queued]
