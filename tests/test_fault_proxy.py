"""The fault proxy over real loopback sockets: passes bytes, delays them, resets, holds."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from wasim.faults.proxy import FaultProxy, Impairment


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    faults = FaultProxy("127.0.0.1", port)
    await faults.open_link("a")
    await faults.open_link("b")
    yield faults
    await faults.close()
    server.close()
    await server.wait_closed()


@contextlib.contextmanager
def _closed_port() -> Iterator[int]:
    """A port bound but never listening: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


async def _round_trip(port: int, size: int = 1000) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(b"x" * size)
    data = b""
    while len(data) < size:
        data += await asyncio.wait_for(reader.read(65536), 5)
    elapsed = time.perf_counter() - started
    writer.close()
    return data, elapsed


async def test_proxy_passes_bytes_both_ways(proxy: FaultProxy) -> None:
    data, _ = await _round_trip(proxy.port("a"), 200_000)
    assert data == b"x" * 200_000


async def test_proxy_slow_adds_latency_each_way(proxy: FaultProxy) -> None:
    proxy.impair(["a"], Impairment(latency=0.1))
    _, elapsed = await _round_trip(proxy.port("a"))
    assert 0.2 <= elapsed < 0.4


async def test_proxy_bandwidth_cap_paces_bytes(proxy: FaultProxy) -> None:
    proxy.impair(["a"], Impairment(bandwidth=100_000))
    _, elapsed = await _round_trip(proxy.port("a"), 10_000)  # 0.1 s each way
    assert 0.2 <= elapsed < 0.4


async def test_proxy_down_resets_open_and_new_connections_of_its_links_only(
    proxy: FaultProxy,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port("a"))
    writer.write(b"ping")
    assert await reader.read(4) == b"ping"
    proxy.impair(["a"], Impairment(down=True))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(4), 5)
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await _round_trip(proxy.port("a"))
    data, _ = await _round_trip(proxy.port("b"))
    assert data == b"x" * 1000
    proxy.restore(["a"])
    data, _ = await _round_trip(proxy.port("a"))
    assert data == b"x" * 1000


async def test_proxy_blackhole_holds_bytes_until_restored(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port("a"))
    writer.write(b"warm")
    assert await reader.read(4) == b"warm"
    proxy.impair(["a"], Impairment(blackhole=True))
    writer.write(b"held")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(4), 0.3)
    assert proxy.connections("a") == 1
    proxy.restore(["a"])
    assert await asyncio.wait_for(reader.read(4), 5) == b"held"
    writer.close()


async def test_proxy_resets_clients_while_upstream_is_down() -> None:
    with _closed_port() as port:
        faults = FaultProxy("127.0.0.1", port)
        await faults.open_link("a")
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await _round_trip(faults.port("a"))
        await faults.close()
