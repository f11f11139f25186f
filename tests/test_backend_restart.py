"""Across a restart, an SSE client resuming with Last-Event-ID misses nothing and sees no repeat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import samples
from httpx_sse import aconnect_sse

from mock_backend import Settings, create_app
from tests.helpers import wait_for
from wasim import defaults
from wasim.server import ServerThread

PHONE = "5215512345678"


async def post(url: str, text: str) -> None:
    body, headers = samples.signed(samples.envelope([samples.text_message(PHONE, text)]))
    async with httpx.AsyncClient(base_url=url) as client:
        assert (
            await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
        ).status_code == 200


async def listen(
    url: str, token: str, got: list[dict[str, Any]], ready: asyncio.Event, after: int | None = None
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if after is not None:
        headers["Last-Event-ID"] = str(after)
    async with httpx.AsyncClient(base_url=url, timeout=None) as client:
        async with aconnect_sse(client, "GET", defaults.STREAM_PATH, headers=headers) as source:
            ready.set()
            async for sse in source.aiter_sse():
                got.append({"id": int(sse.id), "event": sse.event, **json.loads(sse.data)})


def texts(got: list[dict[str, Any]]) -> list[str]:
    return [e["message"]["text"] for e in got if e["event"] == "new_message"]


async def test_backend_restart_sse_resume_gets_every_missed_event_once(
    settings: Settings, token_for: Any
) -> None:
    first = ServerThread(create_app(settings))
    url = first.start()
    got: list[dict[str, Any]] = []
    ready = asyncio.Event()
    task = asyncio.create_task(listen(url, token_for("demo"), got, ready))
    await ready.wait()
    await post(url, "before-1")
    await wait_for(lambda: len(got) == 2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await post(url, "missed-1")
    await asyncio.to_thread(first.stop)

    second = ServerThread(create_app(settings), port=first.port)
    second.start()
    try:
        await post(url, "missed-2")
        ready = asyncio.Event()
        last = got[-1]["id"]
        task = asyncio.create_task(listen(url, token_for("demo"), got, ready, after=last))
        await ready.wait()
        await post(url, "after-1")
        await wait_for(lambda: len(got) == 8)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await asyncio.to_thread(second.stop)
    assert [e["id"] for e in got] == list(range(1, 9))
    assert texts(got) == ["before-1", "missed-1", "missed-2", "after-1"]
