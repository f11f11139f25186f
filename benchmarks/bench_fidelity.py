"""Does `wasim bench` report the Socket.IO latency a plain client would measure?

One user, one Socket.IO client group in the bench, and beside it a minimal python-socketio
client written here, on the same traffic in the same run. Both take latency as receive time
minus the webhook's scheduled send time; their p50 must agree within 0.3 ms.

Run: python benchmarks/bench_fidelity.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import socketio

from wasim.bench import loads, run_bench
from wasim.server import spawn_backend
from wasim.tokens import mint_token

SCENARIO = """
name = "fidelity"

[backend]
url = "{url}"

[users]
count = 1

[traffic]
rate = 20
duration = "17s"
warmup = "2s"
drain = "1s"

[[clients]]
kind = "socketio"
"""
TOLERANCE_MS = 0.3
WARMUP_S = 2.0


async def main() -> int:
    backend = await asyncio.to_thread(spawn_backend)
    scheduled: dict[str, float] = {}
    received: dict[str, float] = {}
    client = socketio.AsyncClient(reconnection=False)

    @client.on("new_message")
    async def on_new_message(data: dict[str, object]) -> None:
        now = time.time()
        message = data.get("message")
        if isinstance(message, dict):
            received.setdefault(str(message.get("wamid")), now)

    try:
        await client.connect(
            backend.url, auth={"token": mint_token("user1")}, transports=["websocket"]
        )
        result = await run_bench(
            loads(SCENARIO.format(url=backend.url)),
            on_send=lambda wamid, at: scheduled.setdefault(wamid, at),
        )
        await client.disconnect()
    finally:
        await asyncio.to_thread(backend.stop)
    measured_from = min(scheduled.values()) + WARMUP_S
    mine = [
        (received[w] - at) * 1000
        for w, at in scheduled.items()
        if w in received and at >= measured_from
    ]
    group = result.groups[0]
    bench_p50, plain_p50 = group.latency.p50_ms, statistics.median(mine)
    print(f"messages: {len(scheduled)}  bench delivered: {group.delivered}  plain: {len(mine)}")
    print(f"bench Socket.IO p50:           {bench_p50:8.3f} ms")
    print(f"minimal Socket.IO client p50:  {plain_p50:8.3f} ms")
    print(f"difference:                    {abs(bench_p50 - plain_p50):8.3f} ms")
    agree = abs(bench_p50 - plain_p50) <= TOLERANCE_MS
    print("agree within 0.3 ms" if agree else "DISAGREE by more than 0.3 ms")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
