"""Listen runs across a backend restart; hybrid mode polls while push is refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from mock_backend import Settings, create_app
from tests.helpers import wait_for
from tests.test_listen import options_for
from tests.test_transports import open_chat, post_message
from wasim.listen.runner import listen
from wasim.server import ServerThread

PUSH_PREFIXES = ("/socket.io", "/api/whatsapp/stream", "/api/whatsapp/ws")


class PushSwitch:
    """The real backend, with its push endpoints refused (503 / HTTP 403) while `refuse` is set."""

    def __init__(self, app: Any, refuse: bool = False) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.refuse and scope["type"] != "lifespan" and scope["path"].startswith(PUSH_PREFIXES):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"push is down"})
            return
        await self.app(scope, receive, send)


def arrived(records: list[dict[str, Any]], wamid: str, transport: str | None = None) -> bool:
    return any(
        r["type"] == "event" and wamid in r["wamids"] and transport in (None, r["transport"])
        for r in records
    )


def copies(records: list[dict[str, Any]], wamid: str) -> int:
    """How many listeners got `new_message` for `wamid` (each listener at most once)."""
    return sum(
        r["type"] == "event" and r["event"] == "new_message" and wamid in r["wamids"]
        for r in records
    )


async def test_listen_restart_resumes_every_listener(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    first = ServerThread(create_app(settings)).__enter__()
    phones = {"demo": "5215500000001", "ana": "5215500000002", "bea": "5215500000003"}
    for user, phone in phones.items():
        await open_chat(first.url, token_for(user), phone)
    records: list[dict[str, Any]] = []
    stop = asyncio.Event()
    options = options_for(first.url, token_for, list(phones), kind="socketio", per_user=2)
    running = asyncio.create_task(listen(options, records.append, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records))
    before = [await post_message(first.url, phone) for phone in phones.values()]
    await wait_for(lambda: all(arrived(records, w) for w in before))
    first.stop()
    with ServerThread(create_app(settings)) as other:
        during = [await post_message(other.url, phone, "while down") for phone in phones.values()]
    with ServerThread(create_app(settings), port=first.port):
        # Both listeners of each user: one having its replay says nothing of the other, which
        # may still be in its backoff or waiting for the hub lock; stopping then cuts it short.
        await wait_for(lambda: all(copies(records, w) == 2 for w in during))
        stop.set()
        summary = await running
    assert summary.connected == 6
    assert summary.reconnects >= 6
    assert summary.events["socketio/new_message"] == 12
    assert (summary.duplicates, summary.missed, summary.gaps) == (0, 0, 0)


async def test_listen_hybrid_polls_while_push_is_refused(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    first = ServerThread(PushSwitch(create_app(settings))).__enter__()
    records: list[dict[str, Any]] = []
    stop = asyncio.Event()
    options = options_for(
        first.url, token_for, ["demo"], kind="socketio-lean", fallback_poll=0.05, fallback_after=0.1
    )
    running = asyncio.create_task(listen(options, records.append, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records))
    by_push = await post_message(first.url, "5215500000001")
    await wait_for(lambda: arrived(records, by_push, "socketio"))
    first.stop()
    switch = PushSwitch(create_app(settings), refuse=True)
    with ServerThread(switch, port=first.port) as again:
        by_poll = await post_message(again.url, "5215500000001", "push is down")
        await wait_for(lambda: arrived(records, by_poll, "poll"))
        switch.refuse = False
        await wait_for(lambda: any(r["type"] == "connected" for r in records))
        back = await post_message(again.url, "5215500000001", "push is back")
        await wait_for(lambda: arrived(records, back, "socketio"))
        stop.set()
        summary = await running
    assert (summary.by_push, summary.by_poll) == (2, 1)
    assert summary.poll_requests >= 1
