"""How fast `wasim send` fires signed webhooks, next to `wrk`, into a 200-only receiver.

Run: python benchmarks/send.py [--seconds 5] [--concurrency 64] [--processes 2] [--count 100000]
                               [--repeat 3] [--big-rate 100000] [--big-seconds 60]
                               [--baseline DIR] [--big-only]

`--big-only` runs the long run alone (no wrk needed): `--big-only --big-seconds 10` is a quick
check of the memory and the time to the first POST.

The receiver is a bare ASGI app (read the body, answer 200) in its own process, served the way
`wasim serve` serves the backend: wasim.server.serve (uvicorn, httptools) on uvloop. Against it,
`--repeat` times, interleaved so that the shared machine's drift hits every row alike:
  * wrk -t1 -c<concurrency> around `wasim send --processes 1 --concurrency <concurrency>`;
  * wrk -t<N> -c<N x concurrency> around `wasim send --processes N --concurrency <concurrency>`;
  * with `--baseline DIR` (a checkout of another wasim, e.g. `git archive main`), the same
    flat-out send by that version, between the same wrk runs: two versions, one run;
then once:
  * `wasim send --rate 1000/s --duration 10s`: schedule lag (actual - scheduled start);
  * `wasim send --rate <big-rate> --duration <big-seconds>`, watched for <big-seconds> of wall
    time and then interrupted (Ctrl-C): time from launch to the first POST at the receiver,
    the largest RSS of the sender, its builder process and both together (the builder is
    forked, so its RSS counts the pages it shares with the sender: PSS, which shares them
    out, is printed too), the rate reached.
wasim runs as the real CLI (`python -m wasim send … --json`) with a schedule far faster than
anything can go, so its achieved rate is its ceiling; its bodies are built while it sends (by
its builder process), as they are in every run now.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from wasim import defaults
from wasim.payloads import PayloadFactory
from wasim.send import PlanSpec, build_plan

PATH = "/hook"
MIX = "text=70,image=10,status=20"
FLAT_OUT_RATE = "1000000/s"
_seen = {"count": 0, "first": 0.0}


async def receiver_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b"ok"
    if scope["path"] == "/stats":
        body = json.dumps(_seen).encode()
    elif scope["path"] == "/reset":
        _seen.update(count=0, first=0.0)
    else:
        _seen["count"] += 1
        _seen["first"] = _seen["first"] or time.time()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def run_receiver() -> None:
    import uvloop

    from wasim.server import bind_socket, serve

    sock = bind_socket("127.0.0.1", 0)
    uvloop.run(serve(receiver_app, sock, on_ready=lambda url: print(url, flush=True)))


def stats(url: str, path: str = "/stats") -> dict[str, Any]:
    with urllib.request.urlopen(url + path, data=b"" if path == "/reset" else None) as answer:
        data: dict[str, Any] = json.loads(answer.read()) if path == "/stats" else {}
        return data


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


def wasim_command(url: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "wasim", "send", "--mix", MIX, "--seed", "1", "--url", url,
            "--path", PATH, "--json", "--no-ledger", *options]  # fmt: skip


def wasim_send(url: str, *options: str, source: str | None = None) -> dict[str, Any]:
    """One `wasim send … --json` run (of the checkout at `source`, if given)."""
    # `python -m` puts the working directory first on sys.path: run from the checkout.
    env = {**os.environ, "PYTHONPATH": source} if source else None
    command = wasim_command(url, *options)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=source).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report: dict[str, Any] = json.loads(out)
    used = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    report["cpu_us_per_post"] = used / max(report["sent"], 1) * 1e6
    return report


def big_run(url: str, rate: int, seconds: int, concurrency: int) -> dict[str, Any]:
    """Launch `--rate rate --duration seconds`, watch it for `seconds`, then Ctrl-C it."""
    stats(url, "/reset")
    command = wasim_command(url, "--rate", f"{rate}/s", "--duration", f"{seconds}s",
                            "--concurrency", str(concurrency))  # fmt: skip
    launched = time.time()
    # Started in the background by a shell (`… &`), this script and its children would ignore
    # SIGINT: give the sender the default, as a terminal's Ctrl-C finds it.
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             preexec_fn=_default_sigint)  # fmt: skip
    tree = psutil.Process(child.pid)
    first, top = None, {"sender": 0, "builder": 0, "total": 0, "pss": 0}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and child.poll() is None:
        seen = stats(url)
        if first is None and seen["count"]:
            first = seen["first"] - launched
        try:
            sender = tree.memory_info().rss
            kids = tree.children(recursive=True)
            builders = sum(p.memory_info().rss for p in kids)
            pss = sum(p.memory_full_info().pss for p in [tree, *kids])
        except psutil.NoSuchProcess:
            break
        now = {"sender": sender, "builder": builders, "total": sender + builders, "pss": pss}
        top = {key: max(top[key], value) for key, value in now.items()}
        time.sleep(0.2)  # a sampling interval, not a synchronisation
    window = time.time() - launched
    received = stats(url)["count"]
    child.send_signal(signal.SIGINT)
    out, _ = child.communicate(timeout=60)
    report = json.loads(out) if out.strip() else {}
    return {"first_post_s": first, "rss": top, "received": received, "window_s": window,
            "exit": child.returncode, "report": report}  # fmt: skip


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spread(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    fmt = f"{{:,.{digits}f}}"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"{fmt.format(mid)} (median; {fmt.format(low)}-{fmt.format(high)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration")
    parser.add_argument("--concurrency", type=int, default=64, help="connections per process")
    parser.add_argument("--processes", type=int, default=2, help="N for the multi-process row")
    parser.add_argument("--count", type=int, default=100_000, help="POSTs per flat-out run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--big-rate", type=int, default=100_000, help="rate of the long run")
    parser.add_argument("--big-seconds", type=int, default=60, help="duration of the long run")
    parser.add_argument("--baseline", help="a wasim checkout to measure in the same run")
    parser.add_argument("--big-only", action="store_true", help="only the long run (RSS)")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver()
        return
    if not args.big_only and not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    child = subprocess.Popen(
        [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True
    )
    c, n = args.concurrency, args.processes
    rows: dict[int, list[tuple[float, float, float, dict[str, Any]]]] = {1: [], n: []}
    base: dict[int, list[float]] = {1: [], n: []}  # the baseline's ratio to the same wrk
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        for _ in range(0 if args.big_only else args.repeat):
            for procs in (1, n):
                # wrk before and after wasim: the reference is their mean, so drift cancels out.
                before = wrk_rate(url, procs, procs * c, args.seconds)
                flat_out = ("--rate", FLAT_OUT_RATE, "--count", str(args.count),
                            "--concurrency", str(c), "--processes", str(procs))  # fmt: skip
                flat = wasim_send(url, *flat_out)
                old = wasim_send(url, *flat_out, source=args.baseline) if args.baseline else None
                after = wrk_rate(url, procs, procs * c, args.seconds)
                rows[procs].append(((before + after) / 2, before, after, flat))
                if old is not None:
                    base[procs].append(old["rate_per_s"] / ((before + after) / 2))
        paced = None
        if not args.big_only:
            paced = wasim_send(
                url, "--rate", "1000/s", "--duration", "10s", "--concurrency", str(c)
            )
        big = big_run(url, args.big_rate, args.big_seconds, c)
    finally:
        child.terminate()
        child.wait()
    print(f"machine    : {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          "receiver: bare ASGI app (read body, answer 200) in its own process, "
          "wasim.server.serve (uvicorn, httptools) on uvloop")  # fmt: skip
    if paced is not None:
        print_rates(args, rows, base, paced)
    print_big(args, big)


def print_rates(
    args: argparse.Namespace,
    rows: dict[int, list[tuple[float, float, float, dict[str, Any]]]],
    base: dict[int, list[float]],
    paced: dict[str, Any],
) -> None:
    c = args.concurrency
    print(f"wrk        : -t<N> -c<N x {c}> -d{args.seconds}s, one signed body; "
          "run before and after wasim, mean shown")  # fmt: skip
    print(f"wasim send : --processes <N> --concurrency {c} --rate {FLAT_OUT_RATE} "
          f"--count {args.count} --mix {MIX}; {args.repeat} runs, interleaved")  # fmt: skip
    for procs, runs in rows.items():
        for k, (wrk, before, after, flat) in enumerate(runs, start=1):
            ratio = flat["rate_per_s"] / wrk if wrk else float("nan")
            print(f"N={procs} run {k}: wrk {wrk:7.0f}/s ({before:.0f}, {after:.0f}) | wasim send "
                  f"{flat['rate_per_s']:7.0f} signed POSTs/s ({flat['sent']} sent, "
                  f"{flat['codes']}, {flat['cpu_us_per_post']:.0f} us CPU/POST with its builder) "
                  f"| ratio {ratio:.2f} x wrk")  # fmt: skip
        ratios = [f["rate_per_s"] / w for w, _, _, f in runs if w]
        print(f"N={procs}: ratio {_spread(ratios, 2)}; wasim "
              f"{_spread([f['rate_per_s'] for *_, f in runs])}/s; "
              f"wrk {_spread([w for w, *_ in runs])}/s")  # fmt: skip
        if base[procs]:
            print(f"N={procs}: baseline {args.baseline}, "
                  f"same wrk runs: ratio {_spread(base[procs], 2)} "
                  f"({', '.join(f'{r:.2f}' for r in base[procs])})")  # fmt: skip
    lag = paced["schedule_lag_ms"]
    print(f"1,000/s for 10 s (1 process): achieved {paced['rate_per_s']:.0f}/s, {paced['sent']} "
          f"sent; schedule lag = actual - scheduled start: p50 {lag['p50']:.2f} ms, "
          f"p99 {lag['p99']:.2f} ms, max {lag['max']:.2f} ms")  # fmt: skip


def print_big(args: argparse.Namespace, big: dict[str, Any]) -> None:
    mb = {k: v / 1e6 for k, v in big["rss"].items()}
    first = big["first_post_s"]
    report = big["report"]
    print(f"{args.big_rate:,}/s for {args.big_seconds} s (1 process), interrupted after "
          f"{big['window_s']:.0f} s: first POST {first if first is None else round(first, 2)} s "
          f"after launch; RSS max sender {mb['sender']:.0f} MB, builder {mb['builder']:.0f} MB, "
          f"both {mb['total']:.0f} MB (PSS of both {mb['pss']:.0f} MB); "
          f"{big['received']:,} POSTs received "
          f"({big['received'] / big['window_s']:,.0f}/s over the window); exit {big['exit']}, "
          f"report: {report.get('sent')} sent of {report.get('planned')} planned, "
          f"interrupted={report.get('interrupted')}")  # fmt: skip


if __name__ == "__main__":
    main()
