"""What the live metrics cost the load they measure: `--metrics-port` on versus off.

A fixed listener load (`--listeners` Socket.IO clients over two listener processes, one per
user, `--rate` messages a second for `--seconds`) against the bundled backend, run with the
metrics endpoint on (its figures read each second from every listener process, merged, and
scraped once a second, as a Prometheus would) and off, interleaved on, off, on, off … `reps`
times each. For each run: the load tool's CPU per delivery from the start of sending to the
end of draining (this process, which merges and serves the figures, and the listener
processes, read by psutil; not the sender, the backend or the scraper, which are the same
either way or not the tool's), and the Socket.IO p99. The ratio on/off of the medians is
the cost (target: within 5%).

Run: python benchmarks/metrics_cost.py [--reps 3] [--listeners 1000] [--rate 200] [--seconds 10]
`measure(reps)` returns the same figures as a dict (benchmarks/shards.py prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import psutil

from wasim.bench import Progress, loads, run_bench
from wasim.cli.options import fan_out
from wasim.observe import Metrics
from wasim.observe.figures import BUCKETS_S
from wasim.server import spawn_backend
from wasim.stats import LatencyHistogram

SCENARIO = """
name = "metrics-cost"

[backend]
url = "{url}"

[users]
count = {listeners}

[traffic]
rate = {rate}
duration = "{seconds}s"
warmup = "1s"
drain = "2s"

[[clients]]
kind = "socketio"
"""


SCRAPER = """
import signal, sys, time, urllib.request
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
while True:
    time.sleep(1.0)
    urllib.request.urlopen(sys.argv[1], timeout=5).read()
    print(1, flush=True)
"""


class WindowCpu:
    """CPU seconds from the start of sending to the end of draining, read from `run_bench`'s
    progress callback (every 50 ms): this process's (every thread: the runner, the metrics
    endpoint) and its listener processes' (`python -m wasim.bench.child`, read by psutil
    while they live)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None
        self.children_start: dict[int, float] = {}
        self.children_last: dict[int, float] = {}

    def progress(self, state: Progress) -> None:
        measuring = state.phase in ("sending", "draining")
        if measuring:
            now = self._children()
            if self.start is None:
                self.start = time.process_time()
                self.children_start = now
            self.children_last.update(now)
        elif self.start is not None and self.end is None:
            self.end = time.process_time()

    def stop(self) -> None:
        """The run has returned (its last phases may pass between two callbacks)."""
        if self.end is None:
            self.end = time.process_time()

    @property
    def parent_s(self) -> float:
        assert self.start is not None and self.end is not None, "the run never sent"
        return self.end - self.start

    @property
    def children_s(self) -> float:
        return sum(self.children_last[pid] - cpu for pid, cpu in self.children_start.items())

    @staticmethod
    def _children() -> dict[int, float]:
        cpu = {}
        for child in psutil.Process().children():
            with contextlib.suppress(psutil.Error):
                if "wasim.bench.child" in child.cmdline():
                    times = child.cpu_times()
                    cpu[child.pid] = times.user + times.system
        return cpu


async def one_run(text: str, metrics_on: bool) -> dict[str, float]:
    scenario = loads(text)
    parent = WindowCpu()
    scrapes = 0
    if not metrics_on:
        result = await run_bench(scenario, processes=2, on_progress=parent.progress)
        parent.stop()
    else:
        with Metrics("bench", port=0) as metrics:
            # The scraper is a process of its own, as Prometheus is: its CPU is not the run's.
            scraper = await asyncio.create_subprocess_exec(
                sys.executable, "-c", SCRAPER, str(metrics.url), stdout=asyncio.subprocess.PIPE
            )
            try:
                result = await run_bench(
                    scenario,
                    processes=2,
                    on_progress=fan_out(parent.progress, metrics.bench_progress),
                    on_live=metrics.update,
                )
                parent.stop()
            finally:
                scraper.send_signal(signal.SIGINT)
                out, _ = await scraper.communicate()
            scrapes = len(out.split())
    group = result.groups[0]
    return {
        "cpu_us_per_delivery": (parent.parent_s + parent.children_s) / group.delivered * 1e6,
        "parent_cpu_s": parent.parent_s,
        "listeners_cpu_s": parent.children_s,
        "p99_ms": group.latency.p99,
        "delivered": group.delivered,
        "expected": group.expected,
        "scrapes": scrapes,
    }


async def run_all(reps: int, listeners: int, rate: float, seconds: float) -> dict[str, Any]:
    folder = tempfile.TemporaryDirectory(prefix="wasim-metrics-cost-")
    database = {"WASIM_DATABASE_URL": f"sqlite+aiosqlite:///{folder.name}/cost.db"}
    backend = await asyncio.to_thread(spawn_backend, env=database)
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    try:
        text = SCENARIO.format(url=backend.url, listeners=listeners, rate=rate, seconds=seconds)
        for rep in range(reps):
            for mode in ("on", "off"):
                run = await one_run(text, mode == "on")
                runs[mode].append(run)
                print(
                    f"  rep {rep + 1} metrics {mode:3}: {run['cpu_us_per_delivery']:7.1f} µs "
                    f"CPU/delivery (this process {run['parent_cpu_s']:.2f} s, listener "
                    f"processes {run['listeners_cpu_s']:.2f} s), p99 {run['p99_ms']:6.1f} ms, "
                    "delivered "
                    f"{run['delivered']:.0f}/{run['expected']:.0f}, scrapes {run['scrapes']:.0f}",
                    flush=True,
                )
    finally:
        await asyncio.to_thread(backend.stop)
        folder.cleanup()
    medians = {
        mode: {
            name: statistics.median(r[name] for r in runs[mode])
            for name in ("cpu_us_per_delivery", "p99_ms")
        }
        for mode in runs
    }
    return {
        "listeners": listeners,
        "rate": rate,
        "seconds": seconds,
        "reps": reps,
        "load_average": os.getloadavg(),
        "median": medians,
        "cpu_ratio": medians["on"]["cpu_us_per_delivery"] / medians["off"]["cpu_us_per_delivery"],
        "p99_ratio": medians["on"]["p99_ms"] / max(medians["off"]["p99_ms"], 1e-9),
        "runs": runs,
    }


def histogram_speed(deliveries: int = 5000, repeat: int = 20) -> dict[str, float]:
    """Milliseconds to summarise one group's merged histogram (what the live figures do once
    a second per group): hdrh's own methods (the baseline) and wasim's, same figures."""
    rng = random.Random(1)
    histogram = LatencyHistogram()
    for _ in range(deliveries):
        histogram.record(rng.expovariate(20))
    hdr = histogram._h

    def hdrh_own() -> None:
        for percentile in (50.0, 90.0, 95.0, 99.0):
            hdr.get_value_at_percentile(percentile)
        hdr.get_mean_value()

    def timed(work: Callable[[], object]) -> float:
        begun = time.perf_counter()
        for _ in range(repeat):
            work()
        return (time.perf_counter() - begun) / repeat * 1000

    return {
        "hdrh_summary_ms": timed(hdrh_own),
        "wasim_summary_ms": timed(histogram.summary),
        "buckets_ms": timed(lambda: histogram.cumulative(BUCKETS_S)),
    }


def measure(
    reps: int = 3, listeners: int = 1000, rate: float = 200.0, seconds: float = 10.0
) -> dict[str, Any]:
    """The metrics endpoint's cost: `reps` interleaved runs with it on and off (see above);
    `summary` is what the script prints, the rest the figures (each run's in `runs`)."""
    figures = asyncio.run(run_all(reps, listeners, rate, seconds))
    return {"summary": report(figures), **figures}


def report(figures: dict[str, Any]) -> str:
    on, off = figures["median"]["on"], figures["median"]["off"]
    load = ", ".join(f"{x:.2f}" for x in figures["load_average"])

    def spread(mode: str, name: str) -> str:
        values = [run[name] for run in figures["runs"][mode]]
        return f"{min(values):.1f}-{max(values):.1f}"

    within = {name: "yes" if figures[f"{name}_ratio"] <= 1.05 else "NO" for name in ("cpu", "p99")}
    return "\n".join(
        [
            f"metrics cost: {figures['listeners']} Socket.IO listeners, {figures['rate']:g} "
            f"msg/s for {figures['seconds']:g} s, {figures['reps']} reps each, interleaved "
            f"(load average {load})",
            f"  CPU per delivery (median): on {on['cpu_us_per_delivery']:.1f} µs "
            f"({spread('on', 'cpu_us_per_delivery')}), off {off['cpu_us_per_delivery']:.1f} µs "
            f"({spread('off', 'cpu_us_per_delivery')}), ratio {figures['cpu_ratio']:.3f}",
            f"  p99 latency (median):      on {on['p99_ms']:.1f} ms ({spread('on', 'p99_ms')}), "
            f"off {off['p99_ms']:.1f} ms ({spread('off', 'p99_ms')}), "
            f"ratio {figures['p99_ratio']:.3f}",
            f"  within 5%: CPU {within['cpu']}, p99 {within['p99']} (runs spread as shown)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    speed = histogram_speed()
    print(
        "one group's histogram, 5,000 deliveries: summary by hdrh's own methods "
        f"{speed['hdrh_summary_ms']:.1f} ms (baseline), by wasim's {speed['wasim_summary_ms']:.1f} "
        f"ms; Prometheus buckets {speed['buckets_ms']:.2f} ms"
    )
    figures = measure(args.reps, args.listeners, args.rate, args.seconds)
    print(figures["summary"])
    if args.json:
        print(json.dumps({k: v for k, v in figures.items() if k != "summary"}, indent=2))


if __name__ == "__main__":
    main()
