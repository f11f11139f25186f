"""Watching the load generator itself: when it is saturated its timings are suspect.

A ticker asks to wake every 10 ms and records how late it woke (event-loop lag); psutil samples
this process's CPU once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import psutil

from wasim.bench.results import Saturation
from wasim.stats import LatencyHistogram

TICK = 0.01
MAX_LAG_P99_MS = 25.0
MAX_CPU_PERCENT = 90.0


class Monitor:
    """Run `start()` before the measured window and `stop()` after it."""

    def __init__(self) -> None:
        self.lag = LatencyHistogram()
        self.cpu: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._process = psutil.Process()

    def start(self) -> None:
        self._process.cpu_percent(None)
        self._tasks = [asyncio.create_task(self._tick()), asyncio.create_task(self._sample())]

    async def stop(self) -> Saturation:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.report()

    def report(self) -> Saturation:
        lag = self.lag.summary()
        mean = sum(self.cpu) / len(self.cpu) if self.cpu else 0.0
        reasons = []
        if lag.p99_ms > MAX_LAG_P99_MS:
            reasons.append(f"event-loop lag p99 {lag.p99_ms:.0f} ms (over {MAX_LAG_P99_MS:g} ms)")
        if mean > MAX_CPU_PERCENT:
            reasons.append(f"load generator CPU {mean:.0f}% (over {MAX_CPU_PERCENT:g}%)")
        return Saturation(
            cpu_percent_mean=mean,
            cpu_percent_max=max(self.cpu, default=0.0),
            loop_lag_p99_ms=lag.p99_ms,
            loop_lag_max_ms=lag.max_ms,
            reasons=tuple(reasons),
        )

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            self.lag.record(max(time.perf_counter() - before - TICK, 0.0))

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.cpu.append(self._process.cpu_percent(None))
