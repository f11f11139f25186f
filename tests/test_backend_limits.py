"""Connection caps, origins, nosniff and the oversized long-polling POST, over real connections."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import socketio
import websockets

from mock_backend import Settings, create_app
from tests.helpers import wait_for
from wasim import defaults
from wasim.errors import AuthError
from wasim.server import ServerThread
from wasim.transports import Listener, ListenerConfig, make_listener

KINDS = ["socketio", "sse", "ws"]


@pytest.fixture
def capped(sqlite_url: str) -> Iterator[str]:
    """A backend that holds 2 push connections per user and 3 in all."""
    settings = Settings(database_url=sqlite_url, max_connections_per_user=2, max_connections=3)
    with ServerThread(create_app(settings)) as server:
        yield server.url


@contextlib.asynccontextmanager
async def listening(url: str, token_for: Any, *who: tuple[str, str]) -> AsyncIterator[None]:
    listeners: list[Listener] = []
    try:
        for kind, user in who:
            config = ListenerConfig(base_url=url, token=token_for(user), user=user, reconnect=False)
            listeners.append(make_listener(kind, config))
            await listeners[-1].connect()
        yield
    finally:
        for listener in listeners:
            await listener.close()


async def refusal(url: str, token: str, kind: str) -> str:
    """Why `kind` is refused; raises if it is not."""
    if kind == "sse":
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.get(
                defaults.STREAM_PATH, headers={"Authorization": f"Bearer {token}"}
            )
        assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
        return str(answer.json()["detail"])
    if kind == "ws":
        ws_url = url.replace("http", "ws") + f"{defaults.WS_PATH}?token={token}"
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(ws_url):
                pass
        assert refused.value.response.status_code == 503
        return refused.value.response.body.decode()
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(url, auth={"token": token}, transports=["websocket"])
    await client.eio.disconnect()  # closes its HTTP session
    return str(errors[0]["message"])


@pytest.mark.parametrize("kind", KINDS)
async def test_limits_cap_per_user(capped: str, token_for: Any, kind: str) -> None:
    async with listening(capped, token_for, ("sse", "demo"), ("ws", "demo")):
        reason = await refusal(capped, token_for("demo"), kind)
        assert "too many connections for this user (at most 2)" in reason
        async with listening(capped, token_for, (kind, "bob")):  # others still get in
            pass


@pytest.mark.parametrize("kind", KINDS)
async def test_limits_cap_in_total_then_room_again(capped: str, token_for: Any, kind: str) -> None:
    async with listening(capped, token_for, ("socketio", "a"), ("sse", "b"), ("ws", "c")):
        assert "server full (3 push connections open)" in await refusal(
            capped, token_for("d"), kind
        )
    # Every slot came back: three more fit.
    async with listening(capped, token_for, (kind, "d"), (kind, "e"), (kind, "f")):
        pass


async def test_limits_wasim_listener_reports_a_full_server(capped: str, token_for: Any) -> None:
    async with listening(capped, token_for, ("sse", "a"), ("sse", "b"), ("sse", "c")):
        config = ListenerConfig(base_url=capped, token=token_for("d"), user="d")
        with pytest.raises(AuthError, match="server full"):
            await make_listener("socketio", config).connect()


@pytest.mark.parametrize(
    "origin", ["http://localhost:3000", "http://127.0.0.1:3000"], ids=["localhost", "loopback"]
)
async def test_limits_cors_allows_each_listed_origin(http: httpx.AsyncClient, origin: str) -> None:
    answer = await http.options(
        defaults.CONVERSATIONS_PATH,
        headers={"Origin": origin, "Access-Control-Request-Method": "GET"},
    )
    assert answer.headers["access-control-allow-origin"] == origin


async def test_limits_cors_refuses_other_origins(http: httpx.AsyncClient) -> None:
    answer = await http.get(defaults.CONVERSATIONS_PATH, headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def ws_connect(url: str, token: str, origin: str | None) -> Any:
    path = f"{defaults.WS_PATH}?token={token}"
    return websockets.connect(url.replace("http", "ws") + path, origin=origin)  # type: ignore[arg-type]


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:3000"], ids=["none", "listed"])
async def test_limits_websocket_accepts_listed_or_no_origin(
    backend_url: str, token_for: Any, origin: str | None
) -> None:
    async with ws_connect(backend_url, token_for("demo"), origin):
        pass


async def test_limits_websocket_refuses_another_origin(backend_url: str, token_for: Any) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus, match="403"):
        async with ws_connect(backend_url, token_for("demo"), "http://evil.example"):
            pass
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{backend_url}/metrics")).text
    assert 'wasim_push_refused_total{reason="origin",transport="websocket"} 1.0' in text


async def test_limits_socketio_refuses_another_origin(backend_url: str, token_for: Any) -> None:
    client = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            backend_url,
            auth={"token": token_for("demo")},
            transports=["websocket"],
            headers={"Origin": "http://evil.example"},
        )
    await client.eio.disconnect()  # closes its HTTP session


HANDSHAKE = (
    f"{defaults.WEBHOOK_PATH}?hub.mode=subscribe&hub.verify_token={defaults.VERIFY_TOKEN}"
    "&hub.challenge=%3Cscript%3E"
)


@pytest.mark.parametrize(
    "request_of",
    [
        pytest.param(lambda c: c.get(HANDSHAKE), id="handshake"),
        pytest.param(lambda c: c.get("/metrics"), id="metrics"),
        pytest.param(lambda c: c.post(defaults.WEBHOOK_PATH, content=b"{}"), id="webhook"),
        pytest.param(
            lambda c: c.get(f"{defaults.SOCKETIO_PATH}/?EIO=4&transport=polling"), id="polling"
        ),
    ],
)
async def test_limits_text_answers_say_nosniff(
    http: httpx.AsyncClient, request_of: Callable[[httpx.AsyncClient], Any]
) -> None:
    answer = await request_of(http)
    assert answer.headers["x-content-type-options"] == "nosniff"


async def test_limits_oversized_polling_post_gets_413(backend_url: str) -> None:
    async with httpx.AsyncClient(base_url=backend_url, timeout=10) as client:
        opened = await client.get(f"{defaults.SOCKETIO_PATH}/?EIO=4&transport=polling")
        sid = opened.text.split('"sid":"')[1].split('"')[0]
        path = f"{defaults.SOCKETIO_PATH}/?EIO=4&transport=polling&sid={sid}"
        answer = await asyncio.wait_for(client.post(path, content=b"4" + b"x" * 5_000_000), 10)
        assert (answer.status_code, answer.headers["connection"]) == (413, "close")
        # The server goes on: a small POST on the same session is taken.
        assert (await client.post(path, content=b"40")).status_code == 200


async def test_limits_gauge_back_to_zero(backend_url: str, token_for: Any) -> None:
    async with listening(backend_url, token_for, ("socketio", "a"), ("sse", "b"), ("ws", "c")):
        pass

    async def gauges() -> list[str]:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{backend_url}/metrics")).text
        return [line for line in text.splitlines() if line.startswith("wasim_open_connections")]

    async def all_zero() -> bool:
        return all(line.endswith(" 0.0") for line in await gauges())

    await wait_for(all_zero)
