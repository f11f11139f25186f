"""How fast the bundled backend ingests signed webhooks, and how fast it pushes them.

Prints, on this machine, in one run:
1. signed webhooks/s stored by `wasim serve` on SQLite (rows counted in the database afterwards),
   next to the rate of a bare 200-only ASGI app under the same uvicorn and the same `wrk` load;
2. webhook-to-Socket.IO latency p50/p99 with N listeners connected (one per user, each user
   with its own contact), the webhook POST start to the listener holding the message.

Needs `wrk` (apt-get install wrk). Example:
    python benchmarks/backend.py --duration 10 --listeners 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from wasim import defaults
from wasim.payloads import PayloadFactory
from wasim.send import encode, signature
from wasim.server import READY_PREFIX, spawn_backend
from wasim.stats import LatencyHistogram
from wasim.tokens import mint_token
from wasim.transports.config import ListenerConfig
from wasim.transports.factory import make_listener

HERE = Path(__file__).parent


def write_bodies(path: Path, count: int, contacts: int) -> None:
    factory = PayloadFactory(seed=7)
    phones = [factory.contact().phone for _ in range(contacts)]
    with path.open("w") as out:
        for _ in range(count):
            update = factory.message("text", from_phone=random.choice(phones))
            body = encode(factory.envelope(update)).decode("ascii")
            out.write(f"{signature(body.encode(), defaults.APP_SECRET)}\t{body}\n")


def wrk(url: str, bodies: Path, duration: int, connections: int) -> tuple[float, int]:
    """Requests/s and non-2xx count of a wrk run posting `bodies` in turn."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(HERE / "post.lua"),
         url, "--", str(bodies)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(errors.group(1)) if errors else 0


def bare_rate(bodies: Path, duration: int, connections: int) -> float:
    command = [sys.executable, str(HERE / "bare_app.py")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().removeprefix(READY_PREFIX).strip()
            rate, _ = wrk(url + defaults.WEBHOOK_PATH, bodies, duration, connections)
        finally:
            proc.terminate()
    return rate


def ingest(bodies: Path, duration: int, connections: int) -> tuple[float, float, int]:
    """wrk's rate, rows stored per second, and non-2xx answers, against `wasim serve`."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{db}")
        try:
            started = time.monotonic()
            rate, errors = wrk(backend.url + defaults.WEBHOOK_PATH, bodies, duration, connections)
            elapsed = time.monotonic() - started
        finally:
            backend.stop()
        rows = sqlite3.connect(db).execute("select count(*) from messages").fetchone()[0]
    return rate, rows / elapsed, errors


def listen(url: str, users: list[str], conn: Connection) -> None:
    """Child process: one Socket.IO listener per user; reports each wamid's receive time."""

    async def main() -> None:
        seen: dict[str, float] = {}
        listeners = []
        for user in users:
            config = ListenerConfig(base_url=url, user=user, token=mint_token(user))
            listeners.append(make_listener("socketio", config))
        await asyncio.gather(*(listener.connect() for listener in listeners))

        async def drain(listener: object) -> None:
            async for item in listener.items():  # type: ignore[attr-defined]
                for wamid in getattr(item, "wamids", ()):
                    seen.setdefault(wamid, item.received_at)

        tasks = [asyncio.create_task(drain(listener)) for listener in listeners]
        # The 1,000 clients are this process's whole life: keep them out of the collector, so a
        # full collection of the load generator cannot pass for backend latency.
        gc.collect()
        gc.freeze()
        conn.send("ready")
        expected: set[str] = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        deadline = time.monotonic() + 10
        while not expected <= seen.keys() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(listener.close() for listener in listeners))
        conn.send(seen)

    asyncio.run(main())


async def send_and_time(url: str, phones: list[str], rate: float, count: int) -> dict[str, float]:
    factory = PayloadFactory(seed=11)
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def post(body: bytes, wamid: str) -> None:
            sent[wamid] = time.time()
            headers = {"X-Hub-Signature-256": signature(body, defaults.APP_SECRET)}
            (
                await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
            ).raise_for_status()

        start, tasks = time.monotonic(), []
        for i in range(count):
            update = factory.message("text", from_phone=random.choice(phones))
            body = encode(factory.envelope(update))
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            tasks.append(asyncio.create_task(post(body, str(update.wamid))))
        await asyncio.gather(*tasks)
    return sent


async def open_conversations(url: str, users: list[str], phones: list[str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for user, phone in zip(users, phones, strict=True):
            headers = {"Authorization": f"Bearer {mint_token(user)}"}
            body = {"contact_phone": phone}
            answer = await client.post(defaults.CONVERSATIONS_PATH, json=body, headers=headers)
            answer.raise_for_status()


def push_latency(
    listeners: int, rate: float, count: int, warmup: int
) -> tuple[LatencyHistogram, int]:
    users = [f"user{i:05d}" for i in range(listeners)]
    phones = [f"5215500{i:06d}" for i in range(listeners)]
    with tempfile.TemporaryDirectory() as tmp:
        backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{Path(tmp) / 'l.db'}")
        try:
            asyncio.run(open_conversations(backend.url, users, phones))
            parent, child = mp.get_context("spawn").Pipe()
            proc = mp.get_context("spawn").Process(target=listen, args=(backend.url, users, child))
            proc.start()
            assert parent.recv() == "ready"
            sent = asyncio.run(send_and_time(backend.url, phones, rate, warmup + count))
            parent.send(set(sent))
            seen: dict[str, float] = parent.recv()
            proc.join()
        finally:
            backend.stop()
    # The first `warmup` messages are not measured: connecting 1,000 sockets leaves the server
    # a full garbage collection (~0.2 s with ~300k objects) to run, which would land here.
    measured = list(sent.items())[warmup:]
    hist = LatencyHistogram()
    for wamid, at in measured:
        if wamid in seen:
            hist.record(seen[wamid] - at)
    return hist, len(measured) - hist.count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--listeners", type=int, default=1000, help="Socket.IO listeners")
    parser.add_argument("--rate", type=float, default=100.0, help="webhooks/s for latency")
    parser.add_argument("--count", type=int, default=1000, help="webhooks for latency")
    parser.add_argument("--warmup", type=int, default=300, help="webhooks sent, not measured")
    parser.add_argument("--push-only", action="store_true", help="skip the ingest runs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/backend.py needs wrk: apt-get install wrk")

    if not args.push_only:
        ingest_figures(args.duration, args.connections)
    hist, missing = push_latency(args.listeners, args.rate, args.count, args.warmup)
    s = hist.summary()
    print(
        f"webhook -> Socket.IO with {args.listeners:,} listeners at {args.rate:.0f}/s: "
        f"p50 {s.p50:.2f} ms, p99 {s.p99:.2f} ms, max {s.max:.2f} ms; "
        f"{s.count} delivered, {missing} missing (target: p99 <= 10 ms)"
    )


def ingest_figures(duration: int, connections: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.txt"
        write_bodies(bodies, count=duration * 8000, contacts=200)
        baseline = bare_rate(bodies, duration, connections)
        rate, stored, errors = ingest(bodies, duration, connections)
    print(f"bare 200-only ASGI app (baseline): {baseline:,.0f} requests/s")
    print(
        f"wasim serve, SQLite: {rate:,.0f} webhooks/s answered, {stored:,.0f} stored/s, "
        f"{errors} non-2xx; {rate / baseline:.2f}x the baseline (target: >= 3,000 stored/s)"
    )


if __name__ == "__main__":
    main()
