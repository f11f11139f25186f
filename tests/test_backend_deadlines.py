"""Request header and body deadlines: a client that trickles gets 408 and loses its socket,
while the webhook keeps answering."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import samples

from wasim import defaults
from wasim.server import SpawnedBackend, spawn_backend

TRICKLERS = 200
DEADLINE = 2.0


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SpawnedBackend]:
    running = spawn_backend(
        "--database-url",
        f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        "--header-timeout",
        str(DEADLINE),
        "--body-timeout",
        str(DEADLINE),
    )
    yield running
    running.stop()


def open_sockets(backend: SpawnedBackend) -> int:
    return len(psutil.Process(backend.process.pid).net_connections(kind="tcp"))


async def trickle(url: str, request: bytes, at_once: bytes = b"") -> tuple[bytes, float]:
    """Send `at_once`, then `request` a byte every 0.2 s until the server answers; its answer
    and how long after the connection it came."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    writer.write(at_once)

    async def drip() -> None:
        for byte in request:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)

    dripping = asyncio.create_task(drip())
    try:
        answer = await asyncio.wait_for(reader.read(), DEADLINE + 20)
    finally:
        dripping.cancel()
        writer.close()
    return answer, time.monotonic() - started


async def webhooks_during(url: str, until: asyncio.Future[Any]) -> list[float]:
    """One signed webhook every 50 ms until `until` is done; each one's answer time in ms."""
    took = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while not until.done():
            body, headers = samples.signed(samples.envelope([samples.text_message("5215500001")]))
            started = time.perf_counter()
            answer = await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
            took.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200
            await asyncio.sleep(0.05)
    return took


def tricklers(url: str, conn: Connection) -> None:
    """Child process: TRICKLERS connections, half dripping their headers, half a 2 MB body
    after headers sent at once; sends back each one's answer and when it came."""
    headers = b"GET /healthz HTTP/1.1\r\nHost: wasim\r\nX-Slow: " + b"s" * 200
    body = (
        f"POST {defaults.WEBHOOK_PATH} HTTP/1.1\r\nHost: wasim\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    ).encode()

    async def main() -> list[tuple[bytes, float]]:
        return await asyncio.gather(
            *(
                trickle(url, headers) if n % 2 else trickle(url, b"{" * 200, body)
                for n in range(TRICKLERS)
            )
        )

    conn.send(asyncio.run(main()))


@pytest.mark.timeout(120)
async def test_deadlines_close_tricklers_while_webhooks_answer(backend: SpawnedBackend) -> None:
    baseline = open_sockets(backend)
    # In a process of their own, so their bursts do not delay this one's webhook timings.
    parent, child = mp.get_context("spawn").Pipe()
    process = mp.get_context("spawn").Process(target=tricklers, args=(backend.url, child))
    process.start()
    child.close()  # only the child holds it now: recv ends with EOFError if the child dies
    done = asyncio.get_running_loop().run_in_executor(None, parent.recv)
    try:
        took = await webhooks_during(backend.url, done)
        answers: list[tuple[bytes, float]] = await done
    finally:
        process.kill()
        process.join(10)
    took.sort()
    print(
        f"\n{TRICKLERS} tricklers closed after {min(t for _, t in answers):.2f}-"
        f"{max(t for _, t in answers):.2f} s (deadline {DEADLINE} s); {len(took)} webhooks "
        f"meanwhile answered in median {statistics.median(took):.1f} ms, "
        f"p95 {took[int(len(took) * 0.95)]:.1f} ms, max {took[-1]:.1f} ms"
    )
    assert all(a.startswith(b"HTTP/1.1 408 ") for a, _ in answers)
    assert max(t for _, t in answers) < DEADLINE + 10
    assert statistics.median(took) < 1000  # served meanwhile, not stalled behind them
    assert open_sockets(backend) <= baseline + 1  # an httpx keep-alive, at most


async def test_deadlines_idle_connection_is_closed(backend: SpawnedBackend) -> None:
    host, port = backend.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = await asyncio.wait_for(reader.read(), DEADLINE + 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")


async def test_deadlines_count_the_timed_out_webhook_as_408(backend: SpawnedBackend) -> None:
    head = f"POST {defaults.WEBHOOK_PATH} HTTP/1.1\r\nHost: wasim\r\nContent-Length: 100\r\n\r\n"
    answer, _ = await trickle(backend.url, b"{" * 100, head.encode())
    assert answer.startswith(b"HTTP/1.1 408 ")
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{backend.url}/metrics")).text
    assert f'route="{defaults.WEBHOOK_PATH}",status="408"}} 1.0' in text


async def test_deadlines_oversized_dripped_body_is_refused_then_cut(
    backend: SpawnedBackend,
) -> None:
    head = (
        f"POST {defaults.WEBHOOK_PATH} HTTP/1.1\r\nHost: wasim\r\nContent-Length: 4000000\r\n\r\n"
    )
    answer, took = await trickle(backend.url, b"{" * 200, head.encode())
    assert answer.startswith(b"HTTP/1.1 413 ")  # at once, from its Content-Length
    assert DEADLINE - 0.5 < took < DEADLINE + 10  # and the rest of it is not waited for


async def test_deadlines_leave_a_slow_but_timely_request_alone(backend: SpawnedBackend) -> None:
    host, port = backend.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    request = b"GET /healthz HTTP/1.1\r\nHost: wasim\r\nConnection: close\r\n\r\n"
    for n in range(4):  # 1.2 s in all, under the 2 s deadline
        writer.write(request[n * len(request) // 4 : (n + 1) * len(request) // 4])
        await asyncio.sleep(0.3)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")
