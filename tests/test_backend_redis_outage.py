"""Redis stopped for 10 s during a burst: a handful of log lines, and every event still reaches
every worker's listeners once. The Redis here is the test's own, never the shared one."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as redis

from mock_backend import Settings, create_app
from tests.helpers import REQUIRE_SERVICES, wait_for
from tests.test_backend_scaleout import PHONE, PUSH, event_ids, listen
from tests.test_transports import Collector, post_message
from wasim.server import ServerThread, bind_socket
from wasim.tokens import mint_token

OUTAGE = 10.0  # seconds without Redis, as the issue measured it


class OwnRedis:
    """A throwaway `redis-server` on a free port, no persistence."""

    def __init__(self) -> None:
        sock = bind_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await wait_for(self.answers, timeout=10)

    async def answers(self) -> bool:
        client = redis.Redis.from_url(self.url)
        try:
            return bool(await client.ping())
        except (redis.ConnectionError, OSError):
            return False
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
async def own_redis() -> asyncio.AsyncIterator[OwnRedis]:  # type: ignore[name-defined]
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("redis-server is not installed, and WASIM_REQUIRE_SERVICES=1")
        pytest.skip("redis-server is not installed")
    server = OwnRedis()
    await server.start()
    yield server
    server.stop()


@pytest.fixture
def workers(postgres_url: str, own_redis: OwnRedis) -> Iterator[tuple[str, str]]:
    settings = Settings(
        database_url=postgres_url,
        redis_url=own_redis.url,
        redis_channel=f"wasim-test:{uuid.uuid4().hex}",
    )
    with ServerThread(create_app(settings)) as a, ServerThread(create_app(settings)) as b:
        yield a.url, b.url


async def post_until(urls: tuple[str, str], stop: asyncio.Event) -> int:
    """A webhook every 50 ms to each worker in turn, all answered 200; how many were sent."""
    sent = 0
    while not stop.is_set():
        await post_message(urls[sent % 2], PHONE, f"burst {sent}")
        sent += 1
        await asyncio.sleep(0.05)
    return sent


@pytest.mark.timeout(120)
@pytest.mark.postgres
async def test_redis_outage_logs_twice_and_loses_nothing(
    workers: tuple[str, str], own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    token = mint_token("demo", expires_in=600)
    listeners: list[Collector] = [await listen(k, url, token) for url in workers for k in PUSH]
    stop = asyncio.Event()
    posting = asyncio.create_task(post_until(workers, stop))
    await asyncio.sleep(2)  # the burst runs with Redis ...
    own_redis.stop()
    await asyncio.sleep(OUTAGE)  # ... without it for 10 s ...
    await own_redis.start()
    await asyncio.sleep(2)  # ... and with it again
    stop.set()
    sent = await posting
    try:
        for collector in listeners:
            await wait_for(lambda c=collector: 2 * sent in event_ids(c), timeout=30)  # type: ignore[misc]
    finally:
        for collector in listeners:
            await collector.close()
    lines = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
    print(f"\n{sent} webhooks, {2 * sent} events; {len(lines)} log lines:", *lines, sep="\n  ")
    for collector in listeners:
        assert event_ids(collector) == list(range(1, 2 * sent + 1)), collector.listener.transport
        assert collector.listener.stats.duplicates == 0
    assert len(lines) <= 4  # per worker: Redis unreachable, Redis back
    assert all("Redis" in line for line in lines)
