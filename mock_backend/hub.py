"""Fan-out of stored events to Socket.IO rooms and to SSE/WebSocket subscribers.

`lock` is held by the writer from commit to publish and by every resume (replay query plus
subscribe), so a resuming client sees each event exactly once: either in its replay (committed
before) or live (published after it subscribed), never both, never neither.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import socketio

from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from mock_backend.store import CONVERSATION_UPDATED, MESSAGE_STATUS, NEW_MESSAGE, Event

Queue = asyncio.Queue[Event | None]


class Hub:
    def __init__(self, sio: socketio.AsyncServer, settings: Settings, metrics: Metrics) -> None:
        self.sio = sio
        self.metrics = metrics
        self.lock = asyncio.Lock()
        self.names = {
            NEW_MESSAGE: settings.event_new_message,
            CONVERSATION_UPDATED: settings.event_conversation_updated,
            MESSAGE_STATUS: settings.event_message_status,
        }
        self._subscribers: dict[str, set[Queue]] = defaultdict(set)

    def name(self, event: Event) -> str:
        return self.names.get(event.kind, event.kind)

    async def publish(self, events: list[Event]) -> None:
        """Emit to the user's room and hand to the user's streams; caller holds `lock`."""
        for event in events:
            await self.sio.emit(self.name(event), event.payload, room=f"user:{event.user}")
            self.metrics.events.labels("socketio", event.kind).inc()
            for queue in self._subscribers.get(event.user, ()):
                queue.put_nowait(event)
                self.metrics.events.labels(self._transport(queue), event.kind).inc()

    async def subscribe(
        self,
        user: str,
        queue: Queue,
        after: int | None,
        replay: Callable[[str, int], Awaitable[list[Event]]],
    ) -> list[Event]:
        """Register `queue` for live events; return what the user missed after `after`."""
        async with self.lock:
            missed = await replay(user, after) if after is not None else []
            self._subscribers[user].add(queue)
        return missed

    def unsubscribe(self, user: str, queue: Queue) -> None:
        queues = self._subscribers.get(user)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[user]

    @staticmethod
    def _transport(queue: Queue) -> str:
        return getattr(queue, "transport", "stream")


class StreamQueue(asyncio.Queue[Event | None]):
    """A subscriber's queue, labelled with its transport; `None` in it means "stop"."""

    def __init__(self, transport: str) -> None:
        super().__init__()
        self.transport = transport
