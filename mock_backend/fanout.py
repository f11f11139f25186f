"""Several workers: every committed event goes through one Redis pub/sub channel to every worker.

Each worker publishes what it commits once, as one message per transaction on
`settings.redis_channel`, and holds one subscription to that channel that feeds all of its own
connections: Socket.IO sockets, SSE streams and WebSockets alike. python-socketio's manager stays
in-process; `AsyncRedisManager` would emit to the room on every node straight away, past the
per-connection cursor that keeps delivery exactly once and in order (see `hub.Subscription`).

No lock spans the workers. A connection registers first and then reads the user's last event id
(or replays after its own), so whatever commits later reaches it live; its cursor drops what it
already has and reads the log when an event arrives ahead of one still on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from contextlib import AbstractAsyncContextManager

import redis.asyncio as redis
import socketio
from redis.asyncio.client import PubSub
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mock_backend.db import users
from mock_backend.hub import CATCH_UP, Hub, Replay, Subscription
from mock_backend.metrics import Metrics
from mock_backend.settings import Settings
from mock_backend.store import Event

log = logging.getLogger("mock_backend.fanout")
BACKOFF_FIRST = 0.05
BACKOFF_MAX = 2.0
SUBSCRIBE_TIMEOUT = 10.0


class RedisHub(Hub):
    """Publishes to Redis; delivers what Redis brings to this worker's connections."""

    per_connection = True

    def __init__(
        self,
        sio: socketio.AsyncServer,
        settings: Settings,
        metrics: Metrics,
        engine: AsyncEngine,
        url: str,
    ) -> None:
        super().__init__(sio, settings, metrics)
        self.engine = engine
        self.channel = settings.redis_channel
        # Named, so `CLIENT LIST` tells the workers apart.
        self.client_name = f"wasim-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._redis = redis.Redis.from_url(url, client_name=self.client_name)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before serving, so nothing committed after a connection starts is missed."""
        pubsub = await self._subscribe()
        self._task = asyncio.create_task(self._listen(pubsub), name="mock-backend-fanout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()

    def publishing(self) -> AbstractAsyncContextManager[object]:
        return contextlib.nullcontext()

    async def publish(self, events: list[Event]) -> None:
        if not events:
            return
        try:
            await self._redis.publish(self.channel, encode(events))
        except Exception:
            # Stored all the same: this worker's clients get them now, the others' when their
            # next event shows the gap or when their worker resubscribes.
            log.exception("publishing %d events to Redis failed; delivering locally", len(events))
            self.deliver(events)

    async def subscribe(
        self, user: str, transport: str, after: int | None, replay: Replay
    ) -> Subscription:
        subscription = Subscription(self, user, transport, replay)
        self._add(subscription)  # first: anything committed from here on reaches the queue
        try:
            head = await self._head(user)
            subscription.missed = await replay(user, after) if after is not None else []
        except BaseException:
            self.unsubscribe(subscription)
            raise
        # With nothing missed, start at the log's head read above (at most `after`, unless the
        # client's id is from a log that has since been reset: then new events still reach it).
        missed = subscription.missed
        subscription.last = missed[-1].event_id if missed else head
        return subscription

    async def _head(self, user: str) -> int:
        async with self.engine.connect() as conn:
            top = await conn.scalar(select(users.c.last_event_id).where(users.c.id == user))
        return int(top or 0)

    async def _subscribe(self) -> PubSub:
        pubsub = self._redis.pubsub()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await pubsub.subscribe(self.channel)
                # Wait for the confirmation: from then on every publish reaches this worker.
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "subscribe":
                        break
        except BaseException:
            await _close(pubsub)
            raise
        return pubsub

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        self._receive(message["data"])
            except Exception as exc:
                log.warning("Redis subscription lost (%s); resubscribing", exc)
            finally:
                await _close(pubsub)
            pubsub = await self._resubscribe()

    async def _resubscribe(self) -> PubSub:
        backoff = BACKOFF_FIRST
        while True:
            await asyncio.sleep(backoff)
            try:
                pubsub = await self._subscribe()
            except Exception as exc:
                log.warning("Redis resubscribe failed (%s); retrying", exc)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            # What was published meanwhile never reached this worker, but it is in the database.
            for subscription in self._all():
                subscription.queue.put_nowait(CATCH_UP)
            return pubsub

    def _receive(self, data: bytes) -> None:
        try:
            events = decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed message on %s", self.channel)
            return
        self.deliver(events)


def encode(events: list[Event]) -> str:
    return json.dumps(
        [
            {"user": e.user, "event_id": e.event_id, "kind": e.kind, "payload": e.payload}
            for e in events
        ]
    )


def decode(data: bytes | str) -> list[Event]:
    return [Event(e["user"], e["event_id"], e["kind"], e["payload"]) for e in json.loads(data)]


async def _close(pubsub: PubSub) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
