"""The lean HTTP client under `wasim send`, and one schedule split across processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wasim.payloads import PayloadFactory
from wasim.send import (
    PlanSpec,
    SendReport,
    Target,
    build_plan,
    retry_profile,
    send_plan,
    send_split,
)
from wasim.send.wire import Wire
from wasim.server import ServerThread

SECRET = "test-secret"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
UNTIL_CLOSE = b"HTTP/1.0 202 Accepted\r\n\r\nok"


@pytest.fixture
def bodies() -> Iterator[tuple[str, list[bytes]]]:
    """A receiver URL and the bodies it got, answering 200 to each."""
    received: list[bytes] = []

    async def webhook(request: Request) -> Response:
        received.append(await request.body())
        return Response("ok")

    with ServerThread(Starlette(routes=[Route("/hook", webhook, methods=["POST"])])) as server:
        yield server.url, received


@asynccontextmanager
async def raw_server(answer: bytes, close: bool) -> AsyncIterator[str]:
    """A socket server that writes `answer` to each POST of `{"a":1}`, then maybe closes."""

    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while await reader.readuntil(b"\r\n\r\n"):
                await reader.readexactly(len(b'{"a":1}'))
                writer.write(answer)
                if close:
                    break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    for writer in writers:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.mark.parametrize(
    ("answer", "close", "status"),
    [
        pytest.param(CHUNKED, False, 200, id="chunked-keep-alive"),
        pytest.param(CHUNKED, True, 200, id="server-closes-after-answer"),
        pytest.param(UNTIL_CLOSE, True, 202, id="body-until-close"),
    ],
)
async def test_send_wire_reads_every_answer_framing(
    answer: bytes, close: bool, status: int
) -> None:
    async with raw_server(answer, close) as url:
        wire = Wire(url, timeout=5.0)
        request = wire.request(b'{"a":1}', {"Content-Type": "application/json"})
        try:
            assert [await wire.post(request) for _ in range(3)] == [status] * 3
        finally:
            wire.close()


def test_send_wire_request_is_one_prebuilt_post() -> None:
    request = Wire("http://example.test:8080/hook?x=1", 1.0).request(b"{}", {"X-A": "b"})
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[:2] == [b"POST /hook?x=1 HTTP/1.1", b"Host: example.test:8080"]
    assert b"X-A: b" in head and b"Content-Length: 2" in head and body == b"{}"


async def test_send_split_across_processes_sends_each_post_once(
    bodies: tuple[str, list[bytes]],
) -> None:
    url, received = bodies
    plan = build_plan(PayloadFactory(seed=5), PlanSpec(count=30, rate=300), SECRET)
    target = Target(url=url, app_secret=SECRET, webhook_path="/hook")
    report = await send_split(target, plan, 2, concurrency=4)
    assert sorted(received) == sorted(d.body for d in plan)
    assert report.sent == report.planned == 30 and report.answers == {"2xx": 30}
    assert report.lag.count == report.latency.count == 30


async def test_send_report_survives_encoding(bodies: tuple[str, list[bytes]]) -> None:
    url, _ = bodies
    plan = build_plan(PayloadFactory(seed=6), PlanSpec(count=5, rate=500), SECRET)
    report = await send_plan(Target(url=url, webhook_path="/hook"), plan)
    again = SendReport.decode(report.encode())
    assert again.as_dict() == report.as_dict()


async def test_send_split_children_retry_with_the_profile_given(
    bodies: tuple[str, list[bytes]],
) -> None:
    url, received = bodies
    plan = build_plan(PayloadFactory(seed=7), PlanSpec(count=3, rate=300), SECRET)
    target = Target(url=url, webhook_path="/missing")  # 404: every attempt fails
    report = await send_split(target, plan, 1, retry=retry_profile("fast", time_scale=1000))
    assert report.sent == 3 and report.retries == 3 * 7 and report.codes == {"404": 3}
    assert received == []
