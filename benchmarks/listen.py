"""How many listeners one `wasim listen` holds against `wasim serve`, at what memory cost.

Run: python benchmarks/listen.py [--counts 1000,5000,10000] [--kind socketio-lean] [--processes 2]
For each count it opens that many Socket.IO listeners (one per user, user1 … userN) over
`--processes` child processes, then sends one message to every user (signed webhooks, batched
like Meta does) and waits until each listener has it. Prints connected/requested, connect rate,
resident memory per listener (growth of the listener processes after connecting, over count),
and broadcast delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from wasim import defaults
from wasim.listen import Credential, ListenOptions
from wasim.listen.processes import listen_spread
from wasim.send import signature
from wasim.server import spawn_backend
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig

BATCH = 100


def phone_of(n: int) -> str:
    return f"52155{n:08d}"


def signed(body: bytes) -> dict[str, str]:
    return {
        "X-Hub-Signature-256": signature(body, defaults.APP_SECRET),
        "Content-Type": "application/json",
    }


def batch_body(numbers: list[int], round_id: str) -> tuple[bytes, dict[str, int]]:
    """One webhook POST carrying a text message for each user in `numbers`."""
    wamids = {f"wamid.BENCH{round_id}{n:08d}=": n for n in numbers}
    messages = [
        {"from": phone_of(n), "id": w, "timestamp": str(int(time.time())), "type": "text",
         "text": {"body": f"broadcast {round_id}"}}
        for w, n in wamids.items()
    ]  # fmt: skip
    contacts = [{"profile": {"name": f"C{n}"}, "wa_id": phone_of(n)} for n in numbers]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1"},
        "contacts": contacts,
        "messages": messages,
    }
    body = {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}]}  # fmt: skip
    return json.dumps(body).encode(), wamids


async def gather_limited(jobs: list[Any], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> None:
        async with gate:
            await job

    await asyncio.gather(*(one(j) for j in jobs))


async def open_chats(url: str, users: range) -> None:
    """Each user opens a chat with their own contact, so that contact's messages reach them."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def open_one(n: int) -> None:
            token = mint_token(f"user{n}")
            response = await client.post(
                defaults.CONVERSATIONS_PATH,
                json={"contact_phone": phone_of(n)},
                headers={"Authorization": f"Bearer {token}"},
            )
            response.raise_for_status()

        await gather_limited([open_one(n) for n in users], 32)


async def broadcast(url: str, count: int, round_id: str) -> dict[str, int]:
    expected: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def post(numbers: list[int]) -> None:
            body, wamids = batch_body(numbers, round_id)
            expected.update(wamids)
            response = await client.post(defaults.WEBHOOK_PATH, content=body, headers=signed(body))
            response.raise_for_status()

        everyone = list(range(1, count + 1))
        await gather_limited([post(everyone[i : i + BATCH]) for i in range(0, count, BATCH)], 4)
    return expected


async def one_round(url: str, count: int, kind: str, processes: int) -> dict[str, Any]:
    ready: dict[str, Any] = {}
    got: set[str] = set()
    stop = asyncio.Event()
    is_ready = asyncio.Event()

    def emit(record: dict[str, Any]) -> None:
        if record["type"] == "ready":
            ready.update(record)
            is_ready.set()
        elif record["type"] == "event":
            got.update(record["wamids"])

    who = tuple(Credential(f"user{n}", mint_token(f"user{n}")) for n in range(1, count + 1))
    config = ListenerConfig(base_url=url, events=(defaults.EVENT_NEW_MESSAGE,), connect_timeout=60)
    options = ListenOptions(kind=kind, config=config, credentials=who, concurrency=200)
    running = asyncio.create_task(listen_spread(options, emit, processes, stop))
    await is_ready.wait()
    sent_at = time.monotonic()
    expected = await broadcast(url, count, str(count))
    deadline = time.monotonic() + 120
    while not set(expected) <= got and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    delivered_in = time.monotonic() - sent_at
    grown = ready["rss"] - ready["rss_before"]
    stop.set()
    summary = await running
    return {
        "requested": count,
        "connected": ready["connected"],
        "failed": ready["failed"],
        "failures": ready.get("failures", {}),
        "connect_seconds": ready["seconds"],
        "rss_per_listener_kb": grown / max(ready["connected"], 1) / 1024,
        "delivered": len(set(expected) & got),
        "expected": len(expected),
        "delivery_seconds": delivered_in,
        "reconnects": summary.reconnects,
    }  # fmt: skip


async def main(counts: list[int], kind: str, processes: int) -> None:
    database = Path(tempfile.mkdtemp()) / "listen-bench.db"
    backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{database}")
    try:
        print(f"backend {backend.url}; kind {kind}; {processes} listener processes")
        opened = 0
        for count in counts:
            await open_chats(backend.url, range(opened + 1, count + 1))
            opened = max(opened, count)
            r = await one_round(backend.url, count, kind, processes)
            rate = r["connected"] / r["connect_seconds"] if r["connect_seconds"] else 0.0
            print(
                f"{count:>6} listeners: connected {r['connected']}/{r['requested']} "
                f"in {r['connect_seconds']:.1f} s ({rate:.0f}/s), "
                f"RSS {r['rss_per_listener_kb']:.1f} KB/listener, "
                f"broadcast delivered {r['delivered']}/{r['expected']} "
                f"in {r['delivery_seconds']:.1f} s, reconnects {r['reconnects']}",
                flush=True,
            )
            for reason, n in list(r["failures"].items())[:3]:
                print(f"        failed x{n}: {reason}")
    finally:
        backend.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,5000,10000")
    parser.add_argument("--kind", default="socketio-lean")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main([int(c) for c in args.counts.split(",")], args.kind, args.processes))
