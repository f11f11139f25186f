"""Fan-out of stored events to Socket.IO rooms and to SSE/WebSocket subscribers, in one process.

`lock` is held by the writer from commit to publish and by every resume (replay query plus
subscribe), so a resuming client sees each event exactly once: either in its replay (committed
before) or live (published after it subscribed), never both, never neither.

Each `Subscription` also keeps a cursor (the last event id it delivered) and reads the log to fill
a gap, so the same delivery loop serves the Redis fan-out (`fanout.py`), where no lock spans the
workers; in this process the lock means the cursor never finds anything to drop or fill.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import socketio

from mock_backend.frames import emit_to_room
from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from mock_backend.store import CONVERSATION_UPDATED, MESSAGE_STATUS, NEW_MESSAGE, Event

Replay = Callable[[str, int], Awaitable[list[Event]]]


class CatchUp:
    """In a subscription's queue: live events may have been lost, read the log after the cursor."""


CATCH_UP = CatchUp()
Queue = asyncio.Queue[Event | CatchUp | None]
SLOW = "slow consumer"


class Subscription:
    """One connection's events: what it missed, then live ones, each once, in event-id order."""

    def __init__(self, hub: Hub, user: str, transport: str, replay: Replay) -> None:
        self.hub = hub
        self.user = user
        self.transport = transport
        self.queue: Queue = asyncio.Queue()
        self.missed: list[Event] = []
        self.last: int | None = None  # the cursor; None takes the first live event as it comes
        self.reason: str | None = None
        # Called when the buffer overflows: the connection is stuck, end it now (limits.py).
        self.overflow: Callable[[], None] | None = None
        self._replay = replay

    def stop(self, reason: str | None = None) -> None:
        """End `events()`; `reason` says why when it is not the client leaving."""
        if self.reason is None:
            self.reason = reason
        self.queue.put_nowait(None)

    def put(self, item: Event | CatchUp) -> None:
        """Queue `item`, or stop as a slow consumer when `max_buffered_events` are waiting."""
        if self.reason is not None:
            return
        if self.queue.qsize() >= self.hub.buffer_limit:
            self.stop(SLOW)
            if self.overflow is not None:
                self.overflow()
            return
        self.queue.put_nowait(item)

    async def events(self) -> AsyncIterator[Event]:
        for event in self.missed:
            self.hub.count(self.transport, event)
            yield event
        while (item := await self.queue.get()) is not None:
            for event in await self._admit(item):
                self.hub.count(self.transport, event)
                yield event

    async def _admit(self, item: Event | CatchUp) -> list[Event]:
        if isinstance(item, CatchUp):
            return await self._read_after(self.last) if self.last is not None else []
        if self.last is None or item.event_id == self.last + 1:
            self.last = item.event_id
            return [item]
        if item.event_id <= self.last:
            return []  # replayed already, or arrived again
        # A gap: the ids in between were committed before this one (a user's ids are allocated
        # under that user's row lock) but are still on their way from another worker.
        return await self._read_after(self.last)

    async def _read_after(self, last: int) -> list[Event]:
        missed = await self._replay(self.user, last)
        if missed:
            self.last = missed[-1].event_id
        return missed


class Hub:
    """In-process: the writer publishes to the rooms and queues of this process."""

    # False: Socket.IO sockets join the user's room. True (fanout.RedisHub): each socket
    # subscribes like a stream does, to get its own cursor.
    per_connection = False

    def __init__(self, sio: socketio.AsyncServer, settings: Settings, metrics: Metrics) -> None:
        self.sio = sio
        self.metrics = metrics
        self.buffer_limit = settings.max_buffered_events
        self.lock = asyncio.Lock()
        self.names = {
            NEW_MESSAGE: settings.event_new_message,
            CONVERSATION_UPDATED: settings.event_conversation_updated,
            MESSAGE_STATUS: settings.event_message_status,
        }
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    async def start(self) -> None:
        """Called on ASGI startup."""

    async def stop(self) -> None:
        """Called on ASGI shutdown."""

    def name(self, event: Event) -> str:
        return self.names.get(event.kind, event.kind)

    def publishing(self) -> AbstractAsyncContextManager[object]:
        """What the writer holds from commit to publish."""
        return self.lock

    async def publish(self, events: list[Event]) -> None:
        """Emit to the user's room and hand to the user's streams; caller holds `publishing()`."""
        rooms: dict[str, list[Event]] = {}
        for event in events:
            rooms.setdefault(event.user, []).append(event)
        for user, mine in rooms.items():
            messages = [(self.name(event), event.payload) for event in mine]
            sent = emit_to_room(self.sio, f"user:{user}", messages)
            for event, sockets in zip(mine, sent, strict=True):
                self.count("socketio", event, sockets)  # once per socket that was sent it
        self.deliver(events)

    def deliver(self, events: list[Event]) -> None:
        """Hand `events` to this process's subscriptions."""
        for event in events:
            for subscription in self._subscribers.get(event.user, ()):
                subscription.put(event)

    async def subscribe(
        self, user: str, transport: str, after: int | None, replay: Replay
    ) -> Subscription:
        """Register for live events; `missed` holds what came after `after`."""
        subscription = Subscription(self, user, transport, replay)
        async with self.lock:
            subscription.missed = await replay(user, after) if after is not None else []
            self._add(subscription)
        if subscription.missed:
            subscription.last = subscription.missed[-1].event_id
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscribers.get(subscription.user)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscribers[subscription.user]

    def count(self, transport: str, event: Event, sockets: int = 1) -> None:
        if sockets:
            self.metrics.events.labels(transport, event.kind).inc(sockets)

    def _add(self, subscription: Subscription) -> None:
        self._subscribers[subscription.user].add(subscription)

    def _all(self) -> list[Subscription]:
        return [s for subscriptions in self._subscribers.values() for s in subscriptions]
