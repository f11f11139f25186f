"""Each transport, against the bundled backend on a real port: delivery, isolation, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
import socketio
from samples import envelope, text_message

from tests.helpers import sign, wait_for
from wasim.errors import AuthError, ProtocolError, TargetError
from wasim.server import ServerThread
from wasim.transports import (
    Listener,
    ListenerConfig,
    PollConfig,
    Received,
    make_listener,
)

KINDS = ["socketio", "socketio-lean", "sse", "ws", "poll"]
FAST_POLL = PollConfig(list_interval=0.05, list_pollers=1, detail_interval=None)


async def post_message(base_url: str, phone: str, body: str = "hello") -> str:
    message = text_message(phone, body)
    raw = json.dumps(envelope([message])).encode()
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base_url}/api/whatsapp/webhook",
            content=raw,
            headers={"X-Hub-Signature-256": sign(raw), "Content-Type": "application/json"},
        )
    assert response.status_code == 200
    return str(message["id"])


async def open_chat(base_url: str, token: str, phone: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base_url}/api/whatsapp/conversations",
            json={"contact_phone": phone},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code in (200, 201)


class Collector:
    """Drains a listener's items in the background."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.items: list[object] = []
        self.task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        async for item in self.listener.items():
            self.items.append(item)

    def wamids(self) -> list[str]:
        return [w for i in self.items if isinstance(i, Received) for w in i.wamids]

    def has(self, wamid: str) -> Callable[[], bool]:
        return lambda: wamid in self.wamids()

    async def close(self) -> None:
        await self.listener.close()
        await asyncio.wait_for(self.task, 5)


def config_for(backend_url: str, token: str, user: str) -> ListenerConfig:
    return ListenerConfig(base_url=backend_url, token=token, user=user, poll=FAST_POLL)


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_delivers_only_to_its_user(
    kind: str, backend_url: str, token_for: Callable[[str], str]
) -> None:
    await open_chat(backend_url, token_for("bob"), "5215500000002")
    demo = make_listener(kind, config_for(backend_url, token_for("demo"), "demo"))
    bob = make_listener(kind, config_for(backend_url, token_for("bob"), "bob"))
    await demo.connect()
    await bob.connect()
    mine, theirs = Collector(demo), Collector(bob)
    for_demo = await post_message(backend_url, "5215500000001")
    for_bob = await post_message(backend_url, "5215500000002")
    await wait_for(mine.has(for_demo))
    await wait_for(theirs.has(for_bob))
    await mine.close()
    await theirs.close()
    assert for_demo not in theirs.wamids()
    assert for_bob not in mine.wamids()
    assert demo.stats.events >= 1


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_bad_token_is_auth_error(kind: str, backend_url: str) -> None:
    listener = make_listener(kind, config_for(backend_url, "not-a-jwt", "demo"))
    with pytest.raises(AuthError):
        await listener.connect()


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_unreachable_is_target_error(
    kind: str, token_for: Callable[[str], str]
) -> None:
    listener = make_listener(kind, config_for("http://127.0.0.1:9", token_for("demo"), "demo"))
    with pytest.raises(TargetError):
        await listener.connect()


@pytest.mark.parametrize("kind", KINDS)
async def test_transport_wrong_path_is_clear(
    kind: str, backend_url: str, token_for: Callable[[str], str]
) -> None:
    config = config_for(backend_url, token_for("demo"), "demo")
    config = replace(
        config,
        socketio_path="/nope",
        stream_path="/nope",
        ws_path="/nope",
        conversations_path="/nope",
    )
    with pytest.raises((ProtocolError, AuthError)):
        await make_listener(kind, config).connect()


@pytest.mark.parametrize("kind", ["socketio", "socketio-lean"])
async def test_transport_keeps_events_sent_before_connect_ack(kind: str) -> None:
    # A server that replays from its connect handler sends those events before its CONNECT.
    sio = socketio.AsyncServer(async_mode="asgi")

    async def replay_on_connect(sid: str, environ: object, auth: object) -> None:
        for n in (1, 2):
            await sio.emit(
                "new_message", {"event_id": n, "message": {"wamid": f"wamid.w{n}"}}, to=sid
            )

    sio.on("connect", replay_on_connect)
    with ServerThread(socketio.ASGIApp(sio)) as server:
        listener = make_listener(kind, ListenerConfig(base_url=server.url, token="t"))
        await listener.connect()
        seen = Collector(listener)
        await wait_for(seen.has("wamid.w2"))
        await seen.close()
    assert [i.event_id for i in seen.items if isinstance(i, Received)] == [1, 2]
