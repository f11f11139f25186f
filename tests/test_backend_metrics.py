"""`/metrics` counts what happened: its counters against what real clients sent and received."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import wait_for
from tests.test_transports import Collector, open_chat, post_message
from wasim.transports import ListenerConfig, Received, make_listener

# (listener kind, the transport label it is counted under, user, resume from)
CLIENTS = [
    ("socketio", "socketio", "demo", None),  # in the user's room
    ("socketio-lean", "socketio", "demo", None),
    ("socketio", "socketio", "bob", 0),  # a resume: a subscription of its own
    ("socketio-lean", "socketio", "bob", 99),  # a reset first
    ("sse", "sse", "demo", None),
    ("sse", "sse", "bob", 99),
    ("ws", "websocket", "demo", 0),
    ("ws", "websocket", "bob", None),
]
PHONES = {"demo": "5215500000001", "bob": "5215500000002"}


async def samples_of(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{url}/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def emitted(samples: dict[Any, float]) -> Counter[tuple[str, str]]:
    """Events emitted by (transport, event)."""
    counts: Counter[tuple[str, str]] = Counter()
    for (name, labels), value in samples.items():
        if name == "wasim_events_emitted_total":
            counts[(dict(labels)["transport"], dict(labels)["event"])] += int(value)
    return counts


async def test_metrics_events_emitted_equal_events_received(
    backend_url: str, token_for: Any
) -> None:
    await open_chat(backend_url, token_for("bob"), PHONES["bob"])
    for user in PHONES:
        await post_message(backend_url, PHONES[user], "before anyone listens")
    collectors = []
    for kind, _, user, after in CLIENTS:
        config = ListenerConfig(
            base_url=backend_url, token=token_for(user), user=user, last_event_id=after
        )
        collectors.append(Collector(make_listener(kind, config)))
        await collectors[-1].listener.connect()
    sent = {
        user: [await post_message(backend_url, PHONES[user]) for _ in range(3)] for user in PHONES
    }
    posted = 2 + 6
    for (_, _, user, _), collector in zip(CLIENTS, collectors, strict=True):
        await wait_for(lambda c=collector, u=user: set(sent[u]) <= set(c.wamids()))  # type: ignore[misc]
    opened = await samples_of(backend_url)
    for collector in collectors:
        await collector.close()

    received: Counter[tuple[str, str]] = Counter()
    for (_, transport, *_), collector in zip(CLIENTS, collectors, strict=True):
        for item in collector.items:
            if isinstance(item, Received):
                received[(transport, item.event)] += 1
        received[(transport, "reset")] += collector.listener.stats.resets
    assert emitted(opened) == +received  # `+` drops the zero counts
    gauges = {
        dict(k[1])["transport"]: v for k, v in opened.items() if k[0] == "wasim_open_connections"
    }
    assert gauges == {"socketio": 4, "sse": 2, "websocket": 2}
    webhook = (
        "wasim_http_requests_total",
        (("method", "POST"), ("route", "/api/whatsapp/webhook"), ("status", "200")),
    )
    assert opened[webhook] == posted
    assert opened[("wasim_webhooks_total", (("outcome", "stored"),))] == posted
