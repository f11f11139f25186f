"""`wasim serve --workers 2`: real worker processes on one port, PostgreSQL and Redis shared."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import psutil
import pytest

from tests.helpers import wait_for
from tests.test_backend_scaleout import PHONE, clean, event_ids, messages
from tests.test_transports import Collector, post_message
from wasim.server import spawn_backend
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig, make_listener

KINDS = ["socketio", "sse", "ws"] * 4  # enough that both workers hold some


async def listen(kind: str, url: str, token: str) -> Collector:
    config = ListenerConfig(base_url=url, token=token, user="demo", backoff_max=0.2)
    listener = make_listener(kind, config)
    await listener.connect()
    return Collector(listener)


def workers_of(supervisor: int) -> list[psutil.Process]:
    children = psutil.Process(supervisor).children()
    return [p for p in children if "spawn_main" in " ".join(p.cmdline())]


def serving(worker: psutil.Process, port: int, status: str) -> int:
    """How many of the worker's sockets on `port` are in `status` (LISTEN, ESTABLISHED)."""
    try:
        sockets = worker.net_connections(kind="tcp")
    except psutil.Error:
        return 0
    return sum(1 for c in sockets if c.laddr and c.laddr.port == port and c.status == status)


@pytest.mark.postgres
@pytest.mark.redis
async def test_serve_workers_listeners_on_either_worker_get_every_message_across_a_restart(
    postgres_url: str, redis_url: str
) -> None:
    channel = f"wasim-test:{uuid.uuid4().hex}"
    backend = spawn_backend(
        "--workers", "2", "--database-url", postgres_url, "--redis-url", redis_url,
        "--redis-channel", channel,
    )  # fmt: skip
    listeners: list[Collector] = []
    try:
        port = urlsplit(backend.url).port or 0
        pids = {p.pid for p in workers_of(backend.process.pid)}
        assert len(pids) == 2 and backend.process.pid not in pids
        token = mint_token("demo", expires_in=600)
        listeners = [await listen(kind, backend.url, token) for kind in KINDS]
        holding = {p.pid: serving(p, port, "ESTABLISHED") for p in workers_of(backend.process.pid)}
        assert all(holding.values()), f"a worker holds no listener: {holding}"
        sent = [await post_message(backend.url, PHONE, f"before {n}") for n in range(6)]
        for collector in listeners:
            await wait_for(lambda c=collector: len(event_ids(c)) == 12)

        victim = max(holding, key=lambda pid: holding[pid])
        os.kill(victim, signal.SIGKILL)
        # While it is down the other worker takes every connection.
        sent += [await post_message(backend.url, PHONE, f"during {n}") for n in range(3)]

        def restarted() -> bool:
            now = workers_of(backend.process.pid)
            return (
                len(now) == 2
                and victim not in {p.pid for p in now}
                and all(serving(p, port, "LISTEN") for p in now)
            )

        await wait_for(restarted, timeout=30)
        sent += [await post_message(backend.url, PHONE, f"after {n}") for n in range(6)]
        for collector in listeners:
            await wait_for(lambda c=collector: len(event_ids(c)) >= 30, timeout=30)
    finally:
        for collector in listeners:
            await collector.close()
        backend.stop()
    assert sum(c.listener.stats.reconnects for c in listeners) >= 1
    for collector in listeners:
        kind = collector.listener.transport
        assert event_ids(collector) == list(range(1, 31)), kind
        assert messages(collector) == sent, kind
        assert clean(collector), kind


def test_serve_workers_need_redis() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wasim", "serve", "--port", "0", "--workers", "2"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--workers 2 needs --redis-url" in result.stderr
