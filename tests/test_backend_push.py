"""Push reaches the owner on Socket.IO, SSE and WebSocket, never another user; bad tokens fail."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
import samples
import socketio
import websockets
from httpx_sse import aconnect_sse

from mock_backend import Settings, create_app
from mock_backend.state import Backend
from tests.helpers import wait_for
from wasim import defaults
from wasim.server import ServerThread

PHONE = "5215512345678"
BOB_PHONE = "4479460000"
Got = list[tuple[str, dict[str, Any]]]


async def post(url: str, doc: dict[str, Any]) -> None:
    body, headers = samples.signed(doc)
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
    assert answer.status_code == 200


async def give_bob_a_conversation(url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        await client.post(
            defaults.CONVERSATIONS_PATH,
            json={"contact_phone": BOB_PHONE},
            headers={"Authorization": f"Bearer {token}"},
        )


async def sio_listen(url: str, token: str, got: Got, **auth: Any) -> socketio.AsyncClient:
    client = socketio.AsyncClient()
    for name in defaults.EVENTS:
        client.on(name, lambda data, name=name: got.append((name, data)))
    await client.connect(url, auth={"token": token, **auth}, transports=["websocket"])
    return client


async def sse_listen(
    url: str, token: str, got: Got, ready: asyncio.Event, after: int | None = None
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if after is not None:
        headers["Last-Event-ID"] = str(after)
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        async with aconnect_sse(client, "GET", defaults.STREAM_PATH, headers=headers) as source:
            ready.set()
            async for sse in source.aiter_sse():
                got.append((sse.event, json.loads(sse.data)))


async def ws_listen(
    url: str, token: str, got: Got, ready: asyncio.Event, after: int | None = None
) -> None:
    query = f"?token={token}" + (f"&last_event_id={after}" if after is not None else "")
    async with websockets.connect(url.replace("http", "ws") + defaults.WS_PATH + query) as ws:
        ready.set()
        async for frame in ws:
            item = json.loads(frame)
            got.append((item["event"], item["data"]))


def backend_in(app: Any) -> Backend:
    """The `Backend` behind `create_app(...)`, found down its chain of wrapping ASGI apps."""
    while not isinstance(getattr(getattr(app, "state", None), "backend", None), Backend):
        app = getattr(app, "other_asgi_app", None) or app.app
    backend: Backend = app.state.backend
    return backend


def wamids(got: Got) -> list[str]:
    return [data["message"]["wamid"] for name, data in got if name == "new_message"]


@pytest.fixture
async def background() -> AsyncIterator[Callable[..., asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []

    def start(coro: Any) -> asyncio.Task[None]:
        tasks.append(asyncio.create_task(coro))
        return tasks[-1]

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def owner_gets_it_and_bob_does_not(url: str, demo: Got, bob: Got) -> None:
    mine, his = samples.text_message(PHONE), samples.text_message(BOB_PHONE)
    await post(url, samples.envelope([mine]))
    await post(url, samples.envelope([his]))
    await wait_for(lambda: len(wamids(demo)) == 1 and len(wamids(bob)) == 1)
    assert (wamids(demo), wamids(bob)) == ([mine["id"]], [his["id"]])
    names = [name for name, _ in demo]
    assert names == ["new_message", "conversation_updated"]
    assert demo[1][1]["conversation"]["unread_count"] == 1
    assert [d["event_id"] for _, d in demo] == [1, 2]


async def test_push_socketio_reaches_owner_only(backend_url: str, token_for: Any) -> None:
    await give_bob_a_conversation(backend_url, token_for("bob"))
    demo: Got = []
    bob: Got = []
    clients = [
        await sio_listen(backend_url, token_for("demo"), demo),
        await sio_listen(backend_url, token_for("bob"), bob),
    ]
    try:
        await owner_gets_it_and_bob_does_not(backend_url, demo, bob)
    finally:
        for client in clients:
            await client.disconnect()


@pytest.mark.parametrize("listen", [sse_listen, ws_listen], ids=["sse", "websocket"])
async def test_push_stream_reaches_owner_only(
    backend_url: str, token_for: Any, background: Any, listen: Any
) -> None:
    await give_bob_a_conversation(backend_url, token_for("bob"))
    demo: Got = []
    bob: Got = []
    ready = [asyncio.Event(), asyncio.Event()]
    background(listen(backend_url, token_for("demo"), demo, ready[0]))
    background(listen(backend_url, token_for("bob"), bob, ready[1]))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
    await owner_gets_it_and_bob_does_not(backend_url, demo, bob)


@pytest.mark.parametrize(
    "listen", [sse_listen, ws_listen, "socketio"], ids=["sse", "websocket", "socketio"]
)
async def test_push_resume_sends_missed_events_once_in_order(
    backend_url: str, token_for: Any, background: Any, listen: Any
) -> None:
    for i in range(3):
        await post(backend_url, samples.envelope([samples.text_message(PHONE, str(i))]))
    got: Got = []
    if listen == "socketio":
        client = await sio_listen(backend_url, token_for("demo"), got, last_event_id=2)
        background(_disconnect_later(client))
    else:
        ready = asyncio.Event()
        background(listen(backend_url, token_for("demo"), got, ready, after=2))
        await asyncio.wait_for(ready.wait(), 10)
    await post(backend_url, samples.envelope([samples.text_message(PHONE, "live")]))
    await wait_for(lambda: len(got) == 6)
    assert [d["event_id"] for _, d in got] == [3, 4, 5, 6, 7, 8]


async def _disconnect_later(client: socketio.AsyncClient) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await client.disconnect()


async def test_push_socketio_resume_skips_a_client_that_left(
    settings: Settings, token_for: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    app = create_app(settings)
    backend = backend_in(app)
    reading, left = threading.Event(), threading.Event()
    replay = backend.replay

    async def held_until_left(user: str, after: int) -> list[Any]:
        reading.set()
        await asyncio.to_thread(left.wait, 10)
        return await replay(user, after)

    monkeypatch.setattr(backend, "replay", held_until_left)
    with ServerThread(app) as server:
        await post(server.url, samples.envelope([samples.text_message(PHONE)]))
        gone = await sio_listen(server.url, token_for("demo"), [], last_event_id=0)
        sid = gone.get_sid()
        await wait_for(reading.is_set)
        await gone.disconnect()
        await wait_for(lambda: backend.sio.manager.eio_sid_from_sid(sid, "/") is None)
        left.set()
        got: Got = []
        # Resumes hold the hub lock in turn, so this one's replay means the first is over.
        again = await sio_listen(server.url, token_for("demo"), got, last_event_id=0)
        await wait_for(lambda: len(got) == 2)
        await again.disconnect()
    sent = backend.metrics.registry.get_sample_value(
        "wasim_events_emitted_total", {"transport": "socketio", "event": "new_message"}
    )
    assert sent == 1  # the second replay; none live (nobody listened), none to the one that left
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_push_status_pushed_once_per_forward_move(
    backend_url: str, token_for: Any, background: Any
) -> None:
    got: Got = []
    ready = asyncio.Event()
    background(sse_listen(backend_url, token_for("demo"), got, ready))
    await ready.wait()
    wamid = samples.wamid()
    for state in ["sent", "read", "delivered", "read", "played"]:
        await post(backend_url, samples.envelope(statuses=[samples.status(wamid, state, PHONE)]))
    await wait_for(lambda: len(got) >= 3)
    await post(backend_url, samples.envelope([samples.text_message(PHONE, "end")]))
    await wait_for(lambda: any(name == "new_message" for name, _ in got))
    statuses = [d["status"] for name, d in got if name == "message_status"]
    assert statuses == ["sent", "read", "played"]


async def test_push_mark_read_pushes_zero_unread(
    backend_url: str, token_for: Any, background: Any
) -> None:
    got: Got = []
    ready = asyncio.Event()
    background(ws_listen(backend_url, token_for("demo"), got, ready))
    await ready.wait()
    await post(backend_url, samples.envelope([samples.text_message(PHONE)]))
    await wait_for(lambda: len(got) == 2)
    conversation_id = got[0][1]["conversation_id"]
    async with httpx.AsyncClient(base_url=backend_url) as client:
        answer = await client.post(
            f"{defaults.CONVERSATIONS_PATH}/{conversation_id}/read",
            headers={"Authorization": f"Bearer {token_for('demo')}"},
        )
    assert answer.json()["unread_count"] == 0
    await wait_for(lambda: len(got) == 3)
    assert got[2][0] == "conversation_updated"
    assert got[2][1]["conversation"]["unread_count"] == 0


def bad_tokens(settings: Settings) -> list[Any]:
    now = int(time.time())
    claims = {"userId": "demo", "exp": now + 600}
    return [
        pytest.param(None, "missing token", id="missing"),
        pytest.param(
            jwt.encode(claims, "wrong-secret-wrong-secret-wrong-secret"),
            "bad token signature",
            id="wrong-secret",
        ),
        pytest.param(
            jwt.encode({**claims, "exp": now - 10}, settings.jwt_secret),
            "token expired",
            id="expired",
        ),
        pytest.param(
            jwt.encode(claims, None, algorithm="none"), "token algorithm not allowed", id="alg-none"
        ),
        pytest.param(
            jwt.encode({"userId": "demo"}, settings.jwt_secret),
            "token has no exp claim",
            id="no-exp",
        ),
        pytest.param(
            jwt.encode({**claims, "exp": now + 2 * 86_400}, settings.jwt_secret),
            "token expires more than 86400 s from now",
            id="lifetime",
        ),
    ]


BAD = bad_tokens(Settings())


@pytest.mark.parametrize(("token", "reason"), BAD)
async def test_push_socketio_refuses_bad_token(
    backend_url: str, token: str | None, reason: str
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []
    client.on("connect_error", refusals.append)
    auth = {"token": token} if token else {}
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(backend_url, auth=auth, transports=["websocket"])
    assert reason in refusals[0]["message"]


@pytest.mark.parametrize(("token", "reason"), BAD)
async def test_push_sse_refuses_bad_token(
    http: httpx.AsyncClient, token: str | None, reason: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = await http.get(defaults.STREAM_PATH, headers=headers)
    assert answer.status_code == 401
    assert reason in answer.json()["detail"]


@pytest.mark.parametrize(("token", "reason"), BAD)
async def test_push_websocket_refuses_bad_token(
    backend_url: str, token: str | None, reason: str
) -> None:
    query = f"?token={token}" if token else ""
    url = backend_url.replace("http", "ws") + defaults.WS_PATH + query
    with pytest.raises(websockets.exceptions.InvalidStatus, match="403"):
        async with websockets.connect(url):
            pass


async def test_push_socketio_dropped_when_token_expires(
    backend_url: str, settings: Settings
) -> None:
    token = jwt.encode({"userId": "demo", "exp": int(time.time()) + 1}, settings.jwt_secret)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(backend_url, auth={"token": token}, transports=["websocket"])
    await wait_for(lambda: not client.connected, timeout=5)


def soon_expiring(settings: Settings) -> str:
    return jwt.encode({"userId": "demo", "exp": int(time.time()) + 2}, settings.jwt_secret)


async def test_push_sse_stream_ends_when_token_expires(
    backend_url: str, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {soon_expiring(settings)}"}
    async with httpx.AsyncClient(base_url=backend_url, timeout=10) as client:
        async with aconnect_sse(client, "GET", defaults.STREAM_PATH, headers=headers) as source:
            assert source.response.status_code == 200
            got = await asyncio.wait_for(_drain(source.aiter_sse()), 10)
    assert got == []


async def _drain(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


async def test_push_websocket_closed_4401_when_token_expires(
    backend_url: str, settings: Settings
) -> None:
    query = f"?token={soon_expiring(settings)}"
    async with websockets.connect(
        backend_url.replace("http", "ws") + defaults.WS_PATH + query
    ) as ws:
        await asyncio.wait_for(ws.wait_closed(), 10)
    assert (ws.close_code, ws.close_reason) == (4401, "token expired")
