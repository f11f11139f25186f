"""Running a scenario end to end: target, setup, clients, traffic, drain, figures, verdicts.

The clients run in this event loop (one listener process) or spread over child processes
(`[load] processes`, `--processes`); the webhooks go out from their own process either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from wasim.bench import backend as backends
from wasim.bench.baseline import compare
from wasim.bench.live import Feed, LiveSnapshot
from wasim.bench.measure import matching_warnings, merge_parts, plan_traffic, schedule
from wasim.bench.prepare import Prepared, contacts_for, set_up
from wasim.bench.results import BenchResult, Saturation, TrafficSummary
from wasim.bench.saturation import MachineMonitor, assess
from wasim.bench.scenario import Scenario
from wasim.bench.shard import Shard, check_shardable
from wasim.bench.share import ClientProcesses, ClientShare, InProcess, http_client
from wasim.bench.spread import ChildProcesses
from wasim.bench.thresholds import judge, parse_threshold
from wasim.errors import TargetError
from wasim.faults.injector import FaultRun, open_faults
from wasim.faults.routes import Routes
from wasim.send.fleet import SendProcesses
from wasim.send.retry import RetryProfile
from wasim.send.sender import Target

LEAD = 0.2  # seconds between the plan being ready and its first POST
SEND_TIMEOUT_S = 60.0  # a saturated backend answers late: that is latency, not a lost POST


@dataclass(frozen=True)
class Progress:
    """A snapshot for the live display."""

    phase: str
    elapsed: float
    total: float
    sent: int
    planned: int
    delivered: int


ProgressCallback = Callable[[Progress], None]
LiveCallback = Callable[[LiveSnapshot], None]
SendCallback = Callable[[str, float, bool], None]


def drain_time(scenario: Scenario) -> float:
    """How long to wait after the last POST: the slowest visible poller's interval, plus slack."""
    if scenario.traffic.drain is not None:
        return scenario.traffic.drain
    longest = 0.0
    for group in scenario.clients:
        plan = group.polling
        if plan is not None and group.kind != "hybrid":
            longest = max(longest, plan.detail_interval or 0.0, plan.list_interval)
    return longest + 2.0


async def run_bench(
    scenario: Scenario,
    *,
    on_progress: ProgressCallback | None = None,
    baseline: Mapping[str, float] | None = None,
    max_regression: float = 0.2,
    on_send: SendCallback | None = None,
    processes: int | None = None,
    retry: RetryProfile | None = None,
    on_live: LiveCallback | None = None,
    shard: Shard | None = None,
) -> BenchResult:
    """Run `scenario` and return its figures with thresholds (and baseline) evaluated.

    `processes` overrides the scenario's `[load] processes` (how many listener processes hold
    the clients). `on_send(wamid, scheduled_at, measured)` sees each message of the schedule
    just before the traffic starts (`measured`: after the warm-up), e.g. for an independent
    client to measure the same traffic (benchmarks/bench_fidelity.py). `retry` makes the
    webhooks retried as Meta would (send's profiles, `retry_profile(name, time_scale)`).
    `on_live` gets the figures so far once a second (`wasim bench --live`). `shard` runs one
    shard of the scenario (`wasim.bench.shard`): its users' clients and webhooks only.
    """
    for expression in scenario.thresholds:
        parse_threshold(expression)
    if shard is not None:
        check_shardable(scenario, shard)
    async with (
        backends.open_target(scenario) as target,
        open_faults(scenario, target) as faults,
        http_client() as http,
    ):
        retry = retry or faults.retry()
        run = _Run(scenario, target, http, on_progress, on_send, retry, faults)
        run.shard = shard
        run.on_live = on_live
        mine = len(shard.users(scenario.users.user_names())) if shard is not None else None
        run.processes = scenario.listener_processes(processes, mine)
        main = asyncio.create_task(run.measure())
        watch = asyncio.create_task(run.watch())
        try:
            done, _ = await asyncio.wait({main, watch}, return_when=asyncio.FIRST_COMPLETED)
            loser = watch if main in done else main
            loser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loser
            if main not in done:
                await run.close_clients()
                watch.result()
            result = main.result()
        finally:
            for task in (main, watch):  # when cancelled (Ctrl-C): end both before cleaning up
                task.cancel()
            await asyncio.gather(main, watch, return_exceptions=True)
            await run.close_clients()
            await run.sender.close()
    result.thresholds = judge(scenario.thresholds, result)
    if baseline is not None:
        result.regressions = compare(baseline, result.figures, max_regression)
    return result


def run_seed(scenario: Scenario) -> int:
    """The traffic seed: the scenario's, else a fresh one, so every run sends ids of its own."""
    if scenario.traffic.seed is not None:
        return scenario.traffic.seed
    return secrets.randbelow(2**31 - 1) + 1


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        target: backends.RunningBackend,
        http: httpx.AsyncClient,
        on_progress: ProgressCallback | None,
        on_send: SendCallback | None = None,
        retry: RetryProfile | None = None,
        faults: FaultRun | None = None,
    ) -> None:
        self.faults = faults or FaultRun(scenario, target, routes=Routes.direct(target.url))
        self.on_send = on_send
        self.scenario = scenario
        self.target = target
        self.http = http
        self.on_progress = on_progress
        webhook_url = (self.faults.webhook_url or target.url) + scenario.backend.webhook_path
        self.sender = SendProcesses(Target(webhook_url, timeout=SEND_TIMEOUT_S), retry=retry)
        self.processes = 1
        self.listeners: ClientProcesses | None = None
        self.warnings: list[str] = []
        self.phase = "starting"
        self.started = time.time()
        self.window_start = self.started
        self.planned = 0
        self.on_live: LiveCallback | None = None
        self.feed = Feed()
        self.machine = MachineMonitor()
        self.shard: Shard | None = None

    async def watch(self) -> None:
        """Fail the run as soon as the backend is gone, instead of waiting for timeouts."""
        while True:
            await asyncio.sleep(0.05)
            code = self.target.exited()
            if code is not None:
                raise TargetError(f"the bundled backend exited mid-run (exit code {code})")
            if (error := self.sender.stalled()) is not None:
                raise TargetError(
                    f"the backend at {self.target.url} stopped answering mid-run: {error}"
                )
            self._report()

    def _report(self, last: bool = False) -> None:
        """Progress, and the live figures once a second; `last`: the drain is over, so the
        live view ends at the figures the results will hold."""
        if self.on_progress is None and self.on_live is None:
            return
        traffic = self.scenario.traffic
        total = traffic.messages / traffic.rate
        progress = Progress(
            self.phase,
            time.time() - self.started,
            total,
            self.sender.sent,
            self.planned,
            self.listeners.delivered if self.listeners is not None else 0,
        )
        if self.on_progress is not None:
            self.on_progress(progress)
        measuring = self.phase in ("sending", "draining")
        if (
            self.on_live is not None
            and self.listeners is not None
            and measuring
            and (last or self.feed.due())
        ):
            shares = self.listeners.live()
            if len(shares) == self.processes:  # every listener process has reported
                machine = self.machine.samples[-1] if self.machine.samples else 0.0
                faults = self.faults.windows(self.window_start, ongoing=True)
                self.on_live(self.feed.reading(progress, shares, machine, faults))

    def _listeners(self, prepared: Prepared) -> ClientProcesses:
        url, routes = self.target.url, self.faults.routes
        if self.processes == 1:
            return InProcess(ClientShare(self.scenario, url, prepared, self.http, routes=routes))
        live = self.on_live is not None
        return ChildProcesses(self.scenario, url, prepared, self.processes, routes, live)

    async def measure(self) -> BenchResult:
        scenario, target = self.scenario, self.target
        warning = await backends.check_reachable(self.http, target, scenario)
        if warning:
            self.warnings.append(warning)
        self.phase = "setup"
        everyone = scenario.users.user_names()
        mine = self.shard.users(everyone) if self.shard is not None else None
        prepared = await set_up(scenario, target.url, self.http, mine)
        self.phase = "connecting"
        await self.sender.open()
        listeners = self.listeners = self._listeners(prepared)
        await listeners.connect()
        seed = run_seed(scenario)
        phones = [c.phone for cs in contacts_for(scenario, everyone).values() for c in cs]
        only = None
        if self.shard is not None:
            only = frozenset(c.phone for cs in prepared.contacts.values() for c in cs)
        plan = plan_traffic(scenario, phones, seed, only)
        self.planned = len(plan)
        await self.sender.deal(plan)
        start = time.time() + LEAD
        window_start = self.window_start = start + scenario.traffic.warmup
        self.started = start
        messages = schedule(plan, prepared.owner_of(), start, scenario.traffic.warmup)
        await listeners.begin(start, messages)
        if self.on_send is not None:
            for message in messages:
                self.on_send(message.wamid, message.scheduled_at, message.measured)

        machine = self.machine
        machine.start()
        server_before, missing = await backends.scrape(
            self.http, target, scenario.backend.metrics_path
        )
        if missing:
            self.warnings.append(missing)
        self.phase = "sending"
        faulting = asyncio.create_task(self.faults.play(start))
        try:
            sent = await self.sender.run(start)
            await faulting
        finally:
            faulting.cancel()
        self.phase = "draining"
        await listeners.drain(drain_time(scenario))
        window_end = time.time()
        self._report(last=True)
        reports = await listeners.finish()
        saturation = assess([r.load for r in reports], await machine.stop(), scenario.load)
        server_after, _ = await backends.scrape(self.http, target, scenario.backend.metrics_path)
        self.phase = "closing"
        window = max(window_end - window_start, 1e-6)
        groups = [
            merge_parts([report.groups[index] for report in reports], window, window_start)
            for index in range(len(scenario.clients))
        ]
        for report in reports:
            self.warnings += report.warnings
        self.warnings += [w for group in groups for w in matching_warnings(group)]
        self.warnings += self._load_warnings(saturation)
        distinct = {sent.wamid: sent for sent in messages}
        return BenchResult(
            scenario=scenario.name,
            seed=seed,
            target=target.url,
            started_at=start,
            duration_s=window,
            traffic=TrafficSummary(
                messages=len(distinct),
                measured=sum(1 for sent in distinct.values() if sent.measured),
                posts=sent.sent,
                duplicates=sent.duplicates,
                send_errors=sent.sent - sent.codes["200"],
                rate=scenario.traffic.rate,
            ),
            groups=groups,
            saturation=saturation,
            server=backends.counter_deltas(server_before, server_after) if server_after else None,
            faults=self.faults.windows(window_start),
            warnings=self.warnings,
            shard=self.shard.info(scenario, seed) if self.shard is not None else None,
        )

    def _load_warnings(self, saturation: Saturation) -> list[str]:
        warnings = []
        if self.processes > saturation.machine.cores > 0:
            warnings.append(
                f"{self.processes} listener processes on {saturation.machine.cores} cores: they "
                "compete for CPU with each other, the sender and the backend"
            )
        warnings += [f"SUSPECT: {reason}" for reason in saturation.reasons]
        return warnings

    async def close_clients(self) -> None:
        if self.listeners is not None:
            await self.listeners.close()
