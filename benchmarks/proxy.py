"""What the fault proxy adds to a round trip when no fault is active (target: < 0.2 ms p50).

Run: python benchmarks/proxy.py                 # 6 rounds of 2,000 round trips each way
     python benchmarks/proxy.py --rounds 10 --trips 5000 --size 300

An echo server runs in one process and the proxy (`wasim.faults.proxy.FaultProxy`, one healthy
link) in another, as in a bench run where the proxy lives in the runner's process. This
process sends `--size` bytes and waits for them back, `--trips` times over one connection,
alternately straight to the echo server (the baseline) and through the proxy: direct, proxy,
direct, proxy, ... for `--rounds` rounds. It prints each side's p50 and p99 per round, and the
p50 the proxy adds (proxy p50 minus the same round's direct p50): median and range over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

ECHO = """
import asyncio, sys
async def echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
    writer.close()
async def main():
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(1e9)
asyncio.run(main())
"""

PROXY = """
import asyncio, sys
from wasim.faults.proxy import FaultProxy
async def main():
    proxy = FaultProxy("127.0.0.1", int(sys.argv[1]))
    print(await proxy.open_link("bench"), flush=True)
    await asyncio.sleep(1e9)
asyncio.run(main())
"""


def _start(code: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


async def _trips(port: int, trips: int, size: int) -> list[float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    payload = b"x" * size
    times = []
    for _ in range(trips + 50):  # the first 50 warm the connection up and are not kept
        started = time.perf_counter()
        writer.write(payload)
        got = 0
        while got < size:
            got += len(await reader.read(65536))
        times.append(time.perf_counter() - started)
    writer.close()
    await writer.wait_closed()
    return [t * 1000 for t in times[50:]]


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--size", type=int, default=300, help="bytes per round trip")
    args = parser.parse_args()
    echo, echo_port = _start(ECHO)
    proxy, proxy_port = _start(PROXY, str(echo_port))
    added = []
    try:
        print(f"load average {os.getloadavg()[0]:.2f}; {args.trips} round trips of {args.size} B")
        for number in range(1, args.rounds + 1):
            direct = await _trips(echo_port, args.trips, args.size)
            proxied = await _trips(proxy_port, args.trips, args.size)
            added.append(_p(proxied, 50) - _p(direct, 50))
            print(
                f"round {number}: direct p50 {_p(direct, 50):.3f} ms p99 {_p(direct, 99):.3f} ms"
                f" | proxy p50 {_p(proxied, 50):.3f} ms p99 {_p(proxied, 99):.3f} ms"
                f" | added p50 {added[-1]:.3f} ms"
            )
        print(
            f"proxy adds p50 {statistics.median(added):.3f} ms per round trip "
            f"(rounds: {min(added):.3f} to {max(added):.3f} ms); "
            f"load average {os.getloadavg()[0]:.2f}"
        )
    finally:
        for process in (proxy, echo):
            process.terminate()
            process.wait()


if __name__ == "__main__":
    asyncio.run(main())
