"""Watching the load generator itself: when it is saturated its timings are suspect.

In each listener process a ticker asks to wake every 10 ms and records how late it woke
(event-loop lag), and psutil samples that process's CPU once a second (`Monitor`). Beside
them the parent samples the whole machine's CPU (`MachineMonitor`): on a shared machine other
processes take the cores the listeners, the sender and the backend need, and inflate latency
without any one listener process looking busy. `assess` turns both into the run's verdict.
"""

from __future__ import annotations

import asyncio
import os
import time

import psutil

from wasim.bench.results import MachineLoad, ProcessLoad, Saturation
from wasim.bench.scenario import Load
from wasim.stats import LatencyHistogram
from wasim.tasks import cancel

TICK = 0.01


def _ms(value: float) -> str:
    return f"{value:.3g} ms"


class Monitor:
    """One listener process: run `start()` before the measured window and `stop()` after it."""

    def __init__(self, limits: Load | None = None, name: str = "listener process 1/1") -> None:
        self.limits = limits or Load()
        self.name = name
        self.clients = 0
        self.lag = LatencyHistogram()
        self.cpu: list[float] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._process = psutil.Process()

    def start(self) -> None:
        self._process.cpu_percent(None)
        self._tasks = [asyncio.create_task(self._tick()), asyncio.create_task(self._sample())]

    async def stop(self) -> ProcessLoad:
        await cancel(*self._tasks)
        return self.report()

    def report(self) -> ProcessLoad:
        lag = self.lag.summary()
        mean = sum(self.cpu) / len(self.cpu) if self.cpu else 0.0
        max_lag_ms = self.limits.max_loop_lag * 1000.0
        reasons = []
        if lag.count and lag.p99 > max_lag_ms:
            reasons.append(f"event-loop lag p99 {_ms(lag.p99)} (over {_ms(max_lag_ms)})")
        if mean > self.limits.max_cpu:
            reasons.append(f"CPU {mean:.0f}% of a core (over {self.limits.max_cpu:g}%)")
        return ProcessLoad(
            name=self.name,
            pid=os.getpid(),
            clients=self.clients,
            cpu_percent_mean=mean,
            cpu_percent_max=max(self.cpu, default=0.0),
            loop_lag_p99_ms=lag.p99,
            loop_lag_max_ms=lag.max,
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


class MachineMonitor:
    """Samples `psutil.cpu_percent` (all cores) once a second between `start()` and `stop()`."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    def start(self) -> None:
        psutil.cpu_percent(None)
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> MachineLoad:
        await cancel(self._task)
        # The last partial second counts too, weighted by its length.
        tail = time.monotonic() - self._started - len(self.samples)
        last = psutil.cpu_percent(None)
        weight = min(max(tail, 0.0), 1.0)
        total = sum(self.samples) + last * weight
        seconds = len(self.samples) + weight
        return MachineLoad(
            cpu_percent_mean=total / seconds if seconds else last,
            cpu_percent_max=max([*self.samples, last]),
            cores=psutil.cpu_count() or 1,
        )

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.samples.append(psutil.cpu_percent(None))


def assess(processes: list[ProcessLoad], machine: MachineLoad, limits: Load) -> Saturation:
    """The run's verdict: every listener process past a limit, and a busy machine, each named."""
    reasons = [
        f"{process.name} (pid {process.pid}, {process.clients} clients): {reason}"
        for process in processes
        for reason in process.reasons
    ]
    busy = machine.cpu_percent_mean > limits.max_machine_cpu
    if busy:
        reasons.append(
            f"the machine was busy: CPU {machine.cpu_percent_mean:.0f}% of all {machine.cores} "
            f"cores over the run (over {limits.max_machine_cpu:g}%); whatever else runs on it "
            "competes with the listeners, the sender and the backend and inflates latency"
        )
    return Saturation(
        cpu_percent_mean=max((p.cpu_percent_mean for p in processes), default=0.0),
        cpu_percent_max=max((p.cpu_percent_max for p in processes), default=0.0),
        loop_lag_p99_ms=max((p.loop_lag_p99_ms for p in processes), default=0.0),
        loop_lag_max_ms=max((p.loop_lag_max_ms for p in processes), default=0.0),
        reasons=tuple(reasons),
        processes=tuple(processes),
        machine=machine.model_copy(update={"busy": busy}),
    )
