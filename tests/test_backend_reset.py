"""A resume from an id the log does not have (a future one, or after a database reset) gets an
explicit `reset` on every push transport, and wasim's listeners reload and go on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from tests.helpers import wait_for
from tests.test_transports import Collector, post_message
from wasim import defaults
from wasim.transports import ListenerConfig, Received, make_listener

PHONE = "5215500000001"  # nobody's contact: demo's


@pytest.mark.parametrize("kind", ["socketio", "socketio-lean", "sse", "ws"])
@pytest.mark.parametrize("asked", [50, 3], ids=["future", "known"])
async def test_reset_on_an_unknown_resume_id_then_live(
    backend_url: str, token_for: Any, kind: str, asked: int
) -> None:
    for n in range(2):
        await post_message(backend_url, PHONE, f"before {n}")  # events 1-4
    config = ListenerConfig(
        base_url=backend_url, token=token_for("demo"), user="demo", last_event_id=asked
    )
    listener = make_listener(kind, config)
    await listener.connect()
    collector = Collector(listener)
    wamid = await post_message(backend_url, PHONE, "after")  # events 5 and 6
    await wait_for(collector.has(wamid))
    await collector.close()
    ids = [i.event_id for i in collector.items if isinstance(i, Received)]
    if asked == 50:
        assert (listener.stats.resets, ids) == (1, [5, 6])
    else:
        assert (listener.stats.resets, ids) == (0, [4, 5, 6])
    assert listener.stats.duplicates == 0


async def first_frame(backend_url: str, headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=backend_url, timeout=10) as client:
        async with aconnect_sse(client, "GET", defaults.STREAM_PATH, headers=headers) as source:
            async for sse in source.aiter_sse():
                return sse
    raise AssertionError("the stream ended without a frame")


@pytest.mark.parametrize("last", ["7", "not-an-id"])
async def test_reset_sse_frame_carries_the_latest_id(
    backend_url: str, token_for: Any, last: str
) -> None:
    await post_message(backend_url, PHONE)  # events 1 and 2
    headers = {"Authorization": f"Bearer {token_for('demo')}", "Last-Event-ID": last}
    sse = await asyncio.wait_for(first_frame(backend_url, headers), 10)
    assert (sse.event, sse.id) == ("reset", "2")  # EventSource resumes from 2 next time
    data = json.loads(sse.data)
    assert data["last_event_id"] == 2
    assert f"last_event_id {last} is not in the log" in data["reason"]


async def test_reset_counted_in_metrics(backend_url: str, token_for: Any) -> None:
    config = ListenerConfig(
        base_url=backend_url, token=token_for("demo"), user="demo", last_event_id=9
    )
    listener = make_listener("ws", config)
    await listener.connect()
    await wait_for(lambda: listener.stats.resets == 1)
    await listener.close()
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{backend_url}/metrics")).text
    assert 'wasim_events_emitted_total{event="reset",transport="websocket"} 1.0' in text
