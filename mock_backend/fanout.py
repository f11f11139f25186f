"""Several workers: every committed event goes through one Redis pub/sub channel to every worker.

Each worker publishes what it commits once, as one message per transaction on
`settings.redis_channel`, and holds one subscription to that channel that feeds all of its own
connections: Socket.IO sockets, SSE streams and WebSockets alike. python-socketio's manager stays
in-process; `AsyncRedisManager` would emit to the room on every node straight away, past the
per-connection cursor that keeps delivery exactly once and in order (see `hub.Subscription`).

No lock spans the workers. A connection registers first and then reads the user's last event id
(or replays after its own), so whatever commits later reaches it live; its cursor drops what it
already has and reads the log when an event arrives ahead of one still on its way.

When Redis goes away, a worker delivers what it commits to its own connections only, logs one
warning (and one when Redis is back), and once a publish goes through again it publishes a
catch-up message that makes every worker read the log for every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from contextlib import AbstractAsyncContextManager

import redis.asyncio as redis
import socketio
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
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
PUBLISH_TIMEOUT = 1.0
HEAL_EVERY = 1.0  # while publishing fails, how often to try Redis again
# Published once publishing works again: every worker reads the log after each connection's
# cursor, and so gets what this worker could not publish meanwhile.
CATCH_UP_MESSAGE = '{"catch_up":true}'


class Outage:
    """One warning when Redis goes away and one when it is back, not one per webhook."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.failed = 0  # publishes that did not reach Redis since it went away

    def down(self, what: str, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning(
                "Redis unreachable (%s: %s); events reach this worker's clients only, the "
                "other workers' catch up from the database when it is back",
                what,
                str(exc) or type(exc).__name__,
            )

    def up(self) -> None:
        if self.since is not None:
            log.warning(
                "Redis is back after %.1f s; %d publishes did not reach it meanwhile",
                time.monotonic() - self.since,
                self.failed,
            )
            self.since = None
            self.failed = 0


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
        self._subscribed = False
        self._healer: asyncio.Task[None] | None = None
        self._unannounced = 0  # publishes that failed, not yet covered by a catch-up message
        self.outage = Outage()

    async def start(self) -> None:
        """Subscribe before serving, so nothing committed after a connection starts is missed."""
        pubsub = await self._subscribe()
        self._subscribed = True
        self._task = asyncio.create_task(self._listen(pubsub), name="mock-backend-fanout")

    async def stop(self) -> None:
        for task in (self._task, self._healer):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._redis.aclose()

    def publishing(self) -> AbstractAsyncContextManager[object]:
        return contextlib.nullcontext()

    async def publish(self, events: list[Event]) -> None:
        if not events:
            return
        if self._healer is None:  # publishing works, as far as this worker knows
            try:
                await self._send(encode(events))
                return
            except (RedisError, OSError, TimeoutError) as exc:
                self.outage.down("publish", exc)
                self._healer = asyncio.create_task(self._heal(), name="mock-backend-heal")
        # Stored all the same: this worker's clients get them now, the other workers' when
        # `_heal` gets its catch-up message through.
        self.outage.failed += 1
        self._unannounced += 1
        self.deliver(events)

    async def _send(self, message: str) -> None:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            try:
                await self._redis.publish(self.channel, message)
            except RedisConnectionError:
                # A connection from before a Redis restart fails once; the retry opens a new one.
                await self._redis.publish(self.channel, message)

    async def _heal(self) -> None:
        """Publish the catch-up message as soon as Redis takes it; then publish again."""
        while self._unannounced:
            covered = self._unannounced
            try:
                await self._send(CATCH_UP_MESSAGE)
            except (RedisError, OSError, TimeoutError):
                await asyncio.sleep(HEAL_EVERY)
                continue
            self._unannounced -= covered  # any skipped meanwhile need one more
        self._healer = None
        if self._subscribed:
            self.outage.up()

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
                self._subscribed = False
                self.outage.down("subscription lost", exc)
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
                self.outage.down("resubscribe", exc)  # logs only the first
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._subscribed = True
            if self._healer is None:
                self.outage.up()
            # What was published meanwhile never reached this worker, but it is in the database.
            self._catch_up()
            return pubsub

    def _catch_up(self) -> None:
        for subscription in self._all():
            subscription.queue.put_nowait(CATCH_UP)

    def _receive(self, data: bytes) -> None:
        if data in (CATCH_UP_MESSAGE, CATCH_UP_MESSAGE.encode()):
            self._catch_up()
            return
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
