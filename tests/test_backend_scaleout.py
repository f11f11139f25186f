"""Two workers sharing PostgreSQL and Redis: every listener hears every event once, in order."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis.asyncio as redis
import socketio
from redis.asyncio.client import PubSub

from mock_backend import Settings, create_app
from mock_backend.fanout import RedisHub
from mock_backend.hub import CATCH_UP, CatchUp, Hub, Replay, Subscription
from mock_backend.metrics import Metrics
from mock_backend.store import Event
from tests.helpers import wait_for
from tests.test_backend_push import backend_in
from tests.test_transports import Collector, post_message
from wasim.server import ServerThread
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig, Received, make_listener

PUSH = ["socketio", "sse", "ws"]
PHONE = "5215500000001"  # an unknown contact: its messages go to the default owner, demo


@pytest.fixture
def scaled(postgres_url: str, redis_url: str) -> Settings:
    # A channel of its own, so parallel runs on one Redis never hear each other.
    return Settings(
        database_url=postgres_url,
        redis_url=redis_url,
        redis_channel=f"wasim-test:{uuid.uuid4().hex}",
    )


@pytest.fixture
def workers(scaled: Settings) -> Iterator[tuple[str, str]]:
    """The URLs of two backends on one database and one Redis channel."""
    with ServerThread(create_app(scaled)) as a, ServerThread(create_app(scaled)) as b:
        yield a.url, b.url


@pytest.fixture
def token(scaled: Settings) -> str:
    return mint_token("demo", secret=scaled.jwt_secret, claim=scaled.jwt_claim, expires_in=600)


async def listen(kind: str, url: str, token: str, last_event_id: int | None = None) -> Collector:
    config = ListenerConfig(base_url=url, token=token, user="demo", last_event_id=last_event_id)
    listener = make_listener(kind, config)
    await listener.connect()
    return Collector(listener)


def event_ids(collector: Collector) -> list[int | None]:
    return [i.event_id for i in collector.items if isinstance(i, Received)]


def reached(collector: Collector, event_id: int) -> Callable[[], bool]:
    """True once `event_id` is in (delivery is in order, so all before it are too)."""
    return lambda: event_id in event_ids(collector)


def messages(collector: Collector) -> list[str]:
    """The wamid of each `new_message`, in the order received."""
    return [
        w
        for i in collector.items
        if isinstance(i, Received) and i.event == "new_message"
        for w in i.wamids
    ]


def clean(collector: Collector) -> bool:
    stats = collector.listener.stats
    return (stats.duplicates, stats.gaps) == (0, 0)


@pytest.mark.postgres
@pytest.mark.redis
async def test_scaleout_webhook_on_b_reaches_listeners_on_a_once(
    workers: tuple[str, str], token: str
) -> None:
    a, b = workers
    listeners = [await listen(kind, a, token) for kind in PUSH]
    first = await post_message(b, PHONE, "one")
    second = await post_message(b, PHONE, "two")
    for collector in listeners:
        await wait_for(reached(collector, 4))
        await collector.close()
    for collector in listeners:
        assert messages(collector) == [first, second], collector.listener.transport
        assert event_ids(collector) == [1, 2, 3, 4]
        assert clean(collector)


@pytest.mark.postgres
@pytest.mark.redis
async def test_scaleout_concurrent_webhooks_on_both_arrive_in_order(
    workers: tuple[str, str], token: str
) -> None:
    a, b = workers
    listeners = [await listen(kind, a, token) for kind in PUSH]
    sent = await asyncio.gather(*(post_message((a, b)[n % 2], PHONE, f"m{n}") for n in range(40)))
    for collector in listeners:
        await wait_for(reached(collector, 80), timeout=20)
        await collector.close()
    for collector in listeners:
        assert event_ids(collector) == list(range(1, 81)), collector.listener.transport
        assert sorted(messages(collector)) == sorted(sent)
        assert clean(collector)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("kind", PUSH)
async def test_scaleout_resume_on_other_worker_gets_exactly_the_missed(
    workers: tuple[str, str], token: str, kind: str
) -> None:
    a, b = workers
    seen = await listen(kind, a, token)
    await post_message(a, PHONE, "seen")
    await wait_for(reached(seen, 2))
    await seen.close()
    missed = [await post_message((a, b)[n % 2], PHONE, f"missed {n}") for n in range(3)]
    again = await listen(kind, b, token, last_event_id=2)
    live = await post_message(a, PHONE, "live")
    await wait_for(reached(again, 10))
    await again.close()
    assert messages(again) == [*missed, live]
    assert event_ids(again) == list(range(3, 11))
    assert clean(again)


@pytest.mark.postgres
@pytest.mark.redis
async def test_scaleout_late_publish_is_filled_from_the_log_then_dropped(
    scaled: Settings, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = [create_app(scaled), create_app(scaled)]
    hub = backend_in(apps[0]).hub
    held, release = threading.Event(), threading.Event()
    publish = hub.publish

    async def late(events: list[Event]) -> None:
        held.set()
        await asyncio.to_thread(release.wait, 10)
        await publish(events)

    monkeypatch.setattr(hub, "publish", late)
    with ServerThread(apps[0]) as a, ServerThread(apps[1]) as b:
        live = await listen("sse", a.url, token)
        posting = asyncio.create_task(post_message(a.url, PHONE, "committed, not yet published"))
        await wait_for(held.is_set)
        resumed = await listen("socketio", b.url, token, last_event_id=0)
        await wait_for(lambda: len(event_ids(resumed)) == 2)  # replayed from the log
        second = await post_message(b.url, PHONE, "published first")
        for collector in (live, resumed):
            await wait_for(collector.has(second))  # `live` read 1 and 2 from the log
        release.set()
        first = await posting
        third = await post_message(b.url, PHONE, "after the late publish")
        for collector in (live, resumed):
            await wait_for(reached(collector, 6))
            await collector.close()
            assert messages(collector) == [first, second, third]
            assert event_ids(collector) == list(range(1, 7))
            assert clean(collector)


@pytest.mark.postgres
@pytest.mark.redis
async def test_scaleout_worker_back_on_redis_catches_up_from_the_log(
    scaled: Settings, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = [create_app(scaled), create_app(scaled)]
    hub = backend_in(apps[0]).hub
    assert isinstance(hub, RedisHub)
    away, release = threading.Event(), threading.Event()
    with ServerThread(apps[0]) as a, ServerThread(apps[1]) as b:
        listener = await listen("ws", a.url, token)
        subscribe = hub._subscribe

        async def held() -> PubSub:
            away.set()
            await asyncio.to_thread(release.wait, 10)
            return await subscribe()

        monkeypatch.setattr(hub, "_subscribe", held)
        admin = redis.Redis.from_url(str(scaled.redis_url))
        try:
            mine = [c for c in await admin.client_list("pubsub") if c["name"] == hub.client_name]
            await admin.client_kill_filter(_id=mine[0]["id"])
        finally:
            await admin.aclose()
        await wait_for(away.is_set)
        sent = await post_message(b.url, PHONE, "while A is away from Redis")
        release.set()
        await wait_for(reached(listener, 2))
        await listener.close()
        assert event_ids(listener) == [1, 2]
        assert messages(listener) == [sent]


def event(n: int) -> Event:
    return Event("demo", n, "new_message", {"event_id": n})


def log_of(last: int) -> Replay:
    """A replay over a log holding events 1..last."""

    async def replay(user: str, after: int) -> list[Event]:
        return [event(n) for n in range(after + 1, last + 1)]

    return replay


async def delivered(subscription: Subscription, *items: Event | CatchUp) -> list[int]:
    for item in items:
        subscription.queue.put_nowait(item)
    subscription.stop()
    return [e.event_id async for e in subscription.events()]


def subscription_at(last: int, log_last: int) -> Subscription:
    hub = Hub(socketio.AsyncServer(async_mode="asgi"), Settings(), Metrics())
    subscription = Subscription(hub, "demo", "sse", log_of(log_last))
    subscription.last = last
    return subscription


async def test_subscription_fills_a_gap_from_the_log() -> None:
    subscription = subscription_at(2, log_last=5)
    assert await delivered(subscription, event(5), event(3), event(4), event(6)) == [3, 4, 5, 6]


async def test_subscription_drops_what_it_already_delivered() -> None:
    subscription = subscription_at(4, log_last=5)
    assert await delivered(subscription, event(3), event(4), event(5), event(5)) == [5]


async def test_subscription_catch_up_reads_the_log_after_its_cursor() -> None:
    subscription = subscription_at(1, log_last=3)
    assert await delivered(subscription, CATCH_UP, event(2), event(4)) == [2, 3, 4]
