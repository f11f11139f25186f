"""How fast `wasim send` fires signed webhooks, next to `wrk`, into a 200-only receiver.

Run: python benchmarks/send.py [--seconds 5] [--concurrency 64] [--processes 2] [--count 100000]

The receiver is a bare ASGI app (read the body, answer 200) in its own process, served the way
`wasim serve` serves the backend: wasim.server.serve (uvicorn, httptools) on uvloop. Against it,
in the same run:
  * wrk -t1 -c<concurrency> around `wasim send --processes 1 --concurrency <concurrency>`;
  * wrk -t<N> -c<N x concurrency> around `wasim send --processes N --concurrency <concurrency>`;
  * `wasim send --rate 1000/s --duration 10s`: schedule lag (actual - scheduled start).
wasim runs as the real CLI (`python -m wasim send … --json`) with a schedule far faster than
anything can go, so its achieved rate is its ceiling; planning is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from wasim import defaults
from wasim.payloads import PayloadFactory
from wasim.send import PlanSpec, build_plan

PATH = "/hook"
MIX = "text=70,image=10,status=20"
FLAT_OUT_RATE = "1000000/s"


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b"ok"})


def run_receiver() -> None:
    import uvloop

    from wasim.server import bind_socket, serve

    sock = bind_socket("127.0.0.1", 0)
    uvloop.run(serve(receiver_app, sock, on_ready=lambda url: print(url, flush=True)))


def wrk_rate(url: str, threads: int, conns: int, seconds: int) -> float:
    sample = build_plan(PayloadFactory(seed=1), PlanSpec(), defaults.APP_SECRET)[0]
    lua = ["wrk.method = 'POST'", f"wrk.body = {_lua_string(sample.body)}"]
    lua += [f"wrk.headers[{_lua_string(k.encode())}] = {_lua_string(v.encode())}"
            for k, v in sample.headers.items()]  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lua) + "\n")
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-s", script.name, url + PATH],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()
    match = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    return float(match[1]) if match else 0.0


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{b}" for b in data) + '"'


def wasim_send(url: str, *options: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "wasim", "send", "--mix", MIX, "--seed", "1",
               "--url", url, "--path", PATH, "--json", *options]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    report: dict[str, Any] = json.loads(out)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration")
    parser.add_argument("--concurrency", type=int, default=64, help="connections per process")
    parser.add_argument("--processes", type=int, default=2, help="N for the multi-process row")
    parser.add_argument("--count", type=int, default=100_000, help="POSTs per flat-out run")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver()
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed")
    child = subprocess.Popen(
        [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True
    )
    c, n = args.concurrency, args.processes
    rows = []
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        for procs in (1, n):
            # wrk before and after wasim: the reference is their mean, so drift cancels out.
            before = wrk_rate(url, procs, procs * c, args.seconds)
            flat = wasim_send(url, "--rate", FLAT_OUT_RATE, "--count", str(args.count),
                              "--concurrency", str(c), "--processes", str(procs))  # fmt: skip
            after = wrk_rate(url, procs, procs * c, args.seconds)
            rows.append((procs, (before + after) / 2, before, after, flat))
        paced = wasim_send(url, "--rate", "1000/s", "--duration", "10s", "--concurrency", str(c))
    finally:
        child.terminate()
        child.wait()
    print(f"machine    : {os.cpu_count()} cores; receiver: bare ASGI app (read body, answer 200) "
          "in its own process, wasim.server.serve (uvicorn, httptools) on uvloop")  # fmt: skip
    print(f"wrk        : -t<N> -c<N x {c}> -d{args.seconds}s, one signed body; "
          "run before and after wasim, mean shown")  # fmt: skip
    print(f"wasim send : --processes <N> --concurrency {c} --rate {FLAT_OUT_RATE} "
          f"--count {args.count} --mix {MIX}")  # fmt: skip
    for procs, wrk, before, after, flat in rows:
        ratio = flat["rate_per_s"] / wrk if wrk else float("nan")
        print(f"N={procs}: wrk {wrk:7.0f}/s ({before:.0f}, {after:.0f}) | wasim send "
              f"{flat['rate_per_s']:7.0f} signed POSTs/s ({flat['sent']} sent, "
              f"{flat['answers']}) | ratio {ratio:.2f} x wrk")  # fmt: skip
    lag = paced["schedule_lag_ms"]
    print(f"1,000/s for 10 s (1 process): achieved {paced['rate_per_s']:.0f}/s, {paced['sent']} "
          f"sent; schedule lag = actual - scheduled start: p50 {lag['p50']:.2f} ms, "
          f"p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
