"""A reader that stops reading: bounded memory, dropped by the policy, resumes exactly once, and
the other clients do not wait for it. On Socket.IO, SSE and WebSocket alike."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import samples
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from tests.helpers import wait_for
from tests.test_transports import Collector
from wasim import defaults
from wasim.server import SpawnedBackend, spawn_backend
from wasim.stats import LatencyHistogram
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig, Received, make_listener

EVENTS = 20_000  # two per message: new_message and conversation_updated
BATCH = 100  # messages per webhook, the way Meta batches
TEXT = "x" * 2000  # big enough that 20,000 buffered events would show in the server's memory
NORMAL_USERS = 20
STUCK_PHONE = "5215599999999"  # nobody's contact: its messages go to demo
BYSTANDER_PHONE = "5215588888888"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[SpawnedBackend]:
    """`wasim serve` in its own process, so its memory is its own; default limits."""
    running = spawn_backend("--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    yield running
    running.stop()


def rss_mb(backend: SpawnedBackend) -> float:
    return float(psutil.Process(backend.process.pid).memory_info().rss) / 2**20


async def metric(url: str, name: str, **labels: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def small_socket(url: str) -> socket.socket:
    """A client socket with a tiny receive buffer, so the server's side fills up quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def stuck_sse(url: str, token: str) -> Callable[[], Awaitable[None]]:
    reader, writer = await asyncio.open_connection(sock=small_socket(url))
    writer.write(
        f"GET {defaults.STREAM_PATH} HTTP/1.1\r\nHost: wasim\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {token}\r\nLast-Event-ID: 0\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    writer.transport.pause_reading()  # and never again

    async def close() -> None:
        writer.transport.abort()

    return close


class RawWebSocket:
    """A WebSocket client over a plain stream (websockets' sans-I/O protocol), so that reading
    can stop for good: the asyncio clients resume reading by themselves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, uri: str):
        self.reader, self.writer = reader, writer
        self.protocol = ClientProtocol(parse_uri(uri))

    @classmethod
    async def connect(cls, url: str, path: str) -> RawWebSocket:
        reader, writer = await asyncio.open_connection(sock=small_socket(url))
        ws = cls(reader, writer, url.replace("http", "ws") + path)
        ws.protocol.send_request(ws.protocol.connect())
        ws._flush()
        await ws._receive()
        return ws

    async def send(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self._flush()

    async def recv(self) -> str:
        while True:
            for event in self.protocol.events_received():
                if isinstance(event, Frame) and event.opcode == Opcode.TEXT:
                    return bytes(event.data).decode()
            await self._receive()

    def stop_reading(self) -> None:
        self.writer.transport.pause_reading()

    def abort(self) -> None:
        self.writer.transport.abort()

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            self.writer.write(data)

    async def _receive(self) -> None:
        self.protocol.receive_data(await self.reader.read(65536))


async def stuck_websocket(url: str, token: str) -> Callable[[], Awaitable[None]]:
    ws = await RawWebSocket.connect(url, f"{defaults.WS_PATH}?token={token}&last_event_id=0")
    ws.stop_reading()

    async def close() -> None:
        ws.abort()

    return close


async def stuck_socketio(url: str, token: str) -> Callable[[], Awaitable[None]]:
    ws = await RawWebSocket.connect(url, defaults.SOCKETIO_PATH + "/?EIO=4&transport=websocket")
    assert (await ws.recv()).startswith("0")
    await ws.send("40" + json.dumps({"token": token}))
    assert (await ws.recv()).startswith("40")  # in its room from here on
    ws.stop_reading()

    async def close() -> None:
        ws.abort()

    return close


STUCK = {"sse": stuck_sse, "ws": stuck_websocket, "socketio": stuck_socketio}
METRIC_TRANSPORT = {"sse": "sse", "ws": "websocket", "socketio": "socketio"}
DROPPED = "wasim_push_dropped_total"


async def dropped(url: str, kind: str) -> bool:
    return await metric(url, DROPPED, transport=METRIC_TRANSPORT[kind]) > 0


async def post_batch(client: httpx.AsyncClient, messages: list[dict[str, Any]]) -> None:
    body, headers = samples.signed(samples.envelope(messages))
    answer = await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
    assert answer.status_code == 200


async def burst(url: str, phone: str) -> None:
    """EVENTS events for the owner of `phone`, as webhooks of BATCH messages."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for _ in range(EVENTS // 2 // BATCH):
            batch = [samples.text_message(phone, TEXT) for _ in range(BATCH)]
            await post_batch(client, batch)


async def paced(url: str, phones: list[str], sent: dict[str, float], count: int) -> None:
    """`count` single messages to the normal users, 50 a second, each timed from its POST."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        start = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / 50 - time.monotonic()))
            message = samples.text_message(phones[n % len(phones)], f"normal {n}")
            sent[message["id"]] = time.time()
            await post_batch(client, [message])


def p95_ms(sent: dict[str, float], normal: list[Collector]) -> float:
    hist = LatencyHistogram()
    for collector in normal:
        for item in collector.items:
            if isinstance(item, Received) and item.event == "new_message":
                for wamid in item.wamids:
                    if wamid in sent:
                        hist.record(item.received_at - sent[wamid])
    assert hist.count == len(sent)
    return hist.summary().p95


async def ids_until(kind: str, url: str, token: str, last: int) -> list[int]:
    """Every event id a fresh listener resuming from 0 receives, up to `last`."""
    config = ListenerConfig(base_url=url, token=token, user="demo", last_event_id=0)
    collector = Collector(make_listener(kind, config))
    await collector.listener.connect()

    def ids() -> list[int]:
        return [i.event_id for i in collector.items if isinstance(i, Received) and i.event_id]

    await wait_for(lambda: last in ids(), timeout=90)
    await collector.close()
    assert collector.listener.stats.duplicates == 0
    return ids()


async def open_chat(url: str, user: str, phone: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(
            defaults.CONVERSATIONS_PATH,
            json={"contact_phone": phone},
            headers={"Authorization": f"Bearer {mint_token(user)}"},
        )
    assert answer.status_code == 201


@pytest.fixture
async def normal(backend: SpawnedBackend) -> AsyncIterator[tuple[list[str], list[Collector]]]:
    """20 users, each with a Socket.IO listener and a contact of their own."""
    users = [f"normal{n:02d}" for n in range(NORMAL_USERS)]
    phones = [f"52155000{n:05d}" for n in range(NORMAL_USERS)]
    collectors = []
    for user, phone in zip(users, phones, strict=True):
        await open_chat(backend.url, user, phone)
        config = ListenerConfig(base_url=backend.url, token=mint_token(user), user=user)
        collectors.append(Collector(make_listener("socketio", config)))
        await collectors[-1].listener.connect()
    yield phones, collectors
    for collector in collectors:
        await collector.close()


async def loaded(url: str, phone: str, phones: list[str]) -> dict[str, float]:
    """A burst to `phone` while 100 paced messages go to the normal users; their send times."""
    sent: dict[str, float] = {}
    await asyncio.gather(burst(url, phone), paced(url, phones, sent, 100))
    return sent


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["sse", "ws", "socketio"])
async def test_slow_reader_is_dropped_and_resumes_exactly_once(
    backend: SpawnedBackend, normal: tuple[list[str], list[Collector]], kind: str
) -> None:
    phones, collectors = normal
    await open_chat(backend.url, "bystander", BYSTANDER_PHONE)
    # The same burst first to a user nobody listens to: the baseline for memory and latency.
    unheard = await loaded(backend.url, BYSTANDER_PHONE, phones)
    rss_before = peak = rss_mb(backend)

    async def watch_memory() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mb(backend))
            await asyncio.sleep(0.05)

    token = mint_token("demo")
    close_stuck = await STUCK[kind](backend.url, token)
    watcher = asyncio.create_task(watch_memory())
    try:
        stuck = await loaded(backend.url, STUCK_PHONE, phones)
        await wait_for(lambda: dropped(backend.url, kind), timeout=30)
    finally:
        watcher.cancel()
        await close_stuck()
    ids = await ids_until(kind, backend.url, token, EVENTS)
    p95 = (p95_ms(unheard, collectors), p95_ms(stuck, collectors))
    print(
        f"\n{kind}: server RSS {rss_before:.1f} MB, peak {peak:.1f} MB while {EVENTS:,} events "
        f"went to the stuck reader; the 20 normal clients' p95 {p95[0]:.1f} ms while the same "
        f"burst went to nobody, {p95[1]:.1f} ms while it went to the stuck reader"
    )
    assert ids == list(range(1, EVENTS + 1))
    assert await metric(backend.url, DROPPED, transport=METRIC_TRANSPORT[kind]) == 1
    # Unbounded, the 20,000 queued events (2 KB of text each) took 50 MB and more.
    assert peak - rss_before < 20
    assert p95[1] < 1000  # nobody waited for the stuck reader's send timeout


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[SpawnedBackend]:
    """A backend whose buffers never fill here, so only the send timeout can drop a client."""
    running = spawn_backend(
        "--database-url",
        f"sqlite+aiosqlite:///{tmp_path / 'w.db'}",
        "--max-buffered-events",
        "1000000",
        "--send-timeout",
        "1",
    )
    yield running
    running.stop()


@pytest.mark.parametrize("kind", ["sse", "ws", "socketio"])
async def test_slow_reader_send_timeout_drops_it(patient: SpawnedBackend, kind: str) -> None:
    close_stuck = await STUCK[kind](patient.url, mint_token("demo"))
    try:
        async with httpx.AsyncClient(base_url=patient.url, timeout=60) as client:
            for _ in range(30):  # 6,000 events of 2 KB: more than the socket buffers hold
                batch = [samples.text_message(STUCK_PHONE, TEXT) for _ in range(BATCH)]
                await post_batch(client, batch)
        labels = {"transport": METRIC_TRANSPORT[kind], "reason": "send timed out"}

        async def timed_out() -> bool:
            return await metric(patient.url, DROPPED, **labels) == 1

        await wait_for(timed_out, timeout=30)
    finally:
        await close_stuck()
