"""How fast `wasim send` fires signed webhooks, next to `wrk`, into a 200-only receiver.

Run: python benchmarks/send.py [--seconds 5] [--connections 64]
Prints wrk's POSTs/s, wasim's POSTs/s, their ratio, and the schedule lag p99 at 1,000/s.
The receiver is a bare ASGI app under uvicorn in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from wasim import defaults
from wasim.payloads import PayloadFactory
from wasim.send import PlanSpec, SendReport, Target, build_plan, send_plan

PATH = "/hook"


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def run_receiver() -> None:
    import uvicorn

    from wasim.server import bind_socket, url_of

    sock = bind_socket("127.0.0.1", 0)
    config = uvicorn.Config(receiver_app, log_level="warning", access_log=False, lifespan="off")
    print(url_of(sock), flush=True)  # the kernel queues connections until uvicorn accepts
    uvicorn.Server(config).run(sockets=[sock])


def wrk_rate(url: str, body: bytes, headers: dict[str, str], seconds: int, conns: int) -> float:
    lua = ["wrk.method = 'POST'", f"wrk.body = {_lua_string(body)}"]
    lua += [f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}"
            for k, v in headers.items()]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "-s", script.name, url + PATH],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    Path(script.name).unlink()
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    return float(match[1]) if match else 0.0


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def plan_for(rate: float, count: int) -> list[Any]:
    spec = PlanSpec(mix={"text": 70, "image": 10, "status": 20}, count=count, rate=rate)
    return build_plan(PayloadFactory(seed=1), spec, defaults.APP_SECRET)


async def wasim_run(url: str, rate: float, count: int, conns: int) -> SendReport:
    target = Target(url=url, webhook_path=PATH)
    return await send_plan(target, plan_for(rate, count), concurrency=conns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        sample = plan_for(1000, 1)[0]
        wrk = (
            wrk_rate(url, sample.body, dict(sample.headers), args.seconds, args.connections)
            if shutil.which("wrk") else 0.0
        )  # fmt: skip
        # Scheduled far faster than anything can go: the achieved rate is the ceiling.
        flat_out = asyncio.run(wasim_run(url, 1_000_000, 20_000, args.connections))
        paced = asyncio.run(wasim_run(url, 1000, 1000 * args.seconds, args.connections))
    finally:
        child.terminate()
        child.wait()
    lag = paced.lag.summary()
    print(f"wrk            : {wrk:9.0f} signed POSTs/s  ({args.connections} connections)")
    print(f"wasim send     : {flat_out.rate:9.0f} signed POSTs/s  ({flat_out.sent} sent, "
          f"{dict(flat_out.answers)})")  # fmt: skip
    print(f"ratio          : {flat_out.rate / wrk if wrk else float('nan'):9.2f} x wrk")
    print(f"at 1,000/s     : achieved {paced.rate:.0f}/s, schedule lag p50 {lag.p50_ms:.2f} ms, "
          f"p99 {lag.p99_ms:.2f} ms, max {lag.max_ms:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
