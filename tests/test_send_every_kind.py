"""Every message type and status `wasim send` builds is stored and pushed by the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from helpers import wait_for

from mock_backend import Settings
from wasim.payloads import MESSAGE_KINDS, STATUS_KINDS, PayloadFactory
from wasim.send import Target, prepare, send_plan
from wasim.server import ServerThread
from wasim.transports import make_listener
from wasim.transports.base import Received
from wasim.transports.config import ListenerConfig

PHONE = "5215512345678"


async def test_every_kind_and_status_is_stored_and_pushed(
    server: ServerThread, settings: Settings, token_for: Callable[[str], str]
) -> None:
    factory = PayloadFactory(seed=31)
    messages = [factory.message(kind, from_phone=PHONE) for kind in MESSAGE_KINDS]
    statuses = [factory.status(status, recipient=PHONE) for status in STATUS_KINDS]
    token = token_for(settings.default_owner)
    config = ListenerConfig(base_url=server.url, token=token, user=settings.default_owner)
    pushed: dict[str, set[str]] = {}
    async with make_listener("socketio", config) as listener:

        async def drain() -> None:
            async for item in listener.items():
                if isinstance(item, Received):
                    for wamid in item.wamids:
                        pushed.setdefault(item.event, set()).add(wamid)

        reader = asyncio.create_task(drain())
        plan = [prepare(factory.envelope(u), settings.app_secret) for u in messages + statuses]
        report = await send_plan(Target(url=server.url), plan, concurrency=1)
        want_messages = {str(m.wamid) for m in messages}
        want_statuses = {str(s.wamid) for s in statuses}
        await wait_for(lambda: want_messages <= pushed.get("new_message", set()))
        await wait_for(lambda: want_statuses <= pushed.get("message_status", set()))
        reader.cancel()
    assert report.answers == {"2xx": len(plan)}
    assert want_messages | want_statuses <= await stored_wamids(server.url, settings, token)


async def stored_wamids(url: str, settings: Settings, token: str) -> set[str]:
    path, stored = settings.conversations_path, set()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for chat in (await http.get(path)).json()["conversations"]:
            messages = (await http.get(f"{path}/{chat['id']}?limit=500")).json()["messages"]
            stored |= {message["wamid"] for message in messages}
    return stored
