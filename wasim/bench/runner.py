"""Running a scenario end to end: target, setup, clients, traffic, drain, figures, verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from wasim.bench import backend as backends
from wasim.bench.baseline import compare
from wasim.bench.clients import Client, build_clients
from wasim.bench.measure import Collector, window_counters
from wasim.bench.prepare import prepare
from wasim.bench.results import BenchResult, TrafficSummary
from wasim.bench.saturation import Monitor
from wasim.bench.scenario import Scenario
from wasim.bench.thresholds import evaluate, parse_threshold
from wasim.bench.traffic import Planned, ProcessSender, plan_traffic
from wasim.errors import TargetError
from wasim.transports.base import Listener, Received, StateChange

LEAD = 0.2  # seconds between the plan being ready and its first POST


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
) -> BenchResult:
    """Run `scenario` and return its figures with thresholds (and baseline) evaluated.

    `on_send(wamid, scheduled_at, measured)` sees each message as it is scheduled (`measured`:
    after the warm-up), e.g. for an independent client to measure the same traffic
    (benchmarks/bench_fidelity.py).
    """
    for expression in scenario.thresholds:
        parse_threshold(expression)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    timeout = httpx.Timeout(10.0, read=60.0)
    async with (
        backends.open_target(scenario) as target,
        httpx.AsyncClient(timeout=timeout, limits=limits) as http,
    ):
        run = _Run(scenario, target, http, on_progress, on_send)
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
            await run.sender.close()
    result.thresholds = [
        evaluate(parse_threshold(expression), result.figures())
        for expression in scenario.thresholds
    ]
    if baseline is not None:
        result.regressions = compare(baseline, result.figures(), max_regression)
    return result


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        target: backends.Target,
        http: httpx.AsyncClient,
        on_progress: ProgressCallback | None,
        on_send: SendCallback | None = None,
    ) -> None:
        self.on_send = on_send
        self.scenario = scenario
        self.target = target
        self.http = http
        self.on_progress = on_progress
        self.collector = Collector()
        self.sender = ProcessSender(http, target.url + scenario.backend.webhook_path)
        self.clients: list[Client] = []
        self.pumps: list[asyncio.Task[None]] = []
        self.warnings: list[str] = []
        self.phase = "starting"
        self.started = time.time()
        self.planned = 0

    async def watch(self) -> None:
        """Fail the run as soon as the backend is gone, instead of waiting for timeouts."""
        while True:
            await asyncio.sleep(0.05)
            code = self.target.exited()
            if code is not None:
                raise TargetError(f"the bundled backend exited mid-run (exit code {code})")
            if self.sender.broken:
                raise TargetError(
                    f"the backend at {self.target.url} stopped answering mid-run: "
                    f"{self.sender.last_error}"
                )
            self._report()

    def _report(self) -> None:
        if self.on_progress is None:
            return
        traffic = self.scenario.traffic
        total = traffic.messages / traffic.rate
        self.on_progress(
            Progress(
                self.phase,
                time.time() - self.started,
                total,
                self.sender.posts,
                self.planned,
                self.collector.delivered_live,
            )
        )

    async def measure(self) -> BenchResult:
        scenario, target = self.scenario, self.target
        warning = await backends.check_reachable(self.http, target, scenario)
        if warning:
            self.warnings.append(warning)
        self.phase = "setup"
        prepared = await prepare(scenario, target.url, self.http)
        self.phase = "connecting"
        await self.sender.open()
        opened = prepared.open_conversation()
        for group in scenario.clients:
            self.clients += build_clients(
                group, target.url, prepared.users, prepared.tokens, opened, self.http
            )
        await asyncio.gather(*(lst.connect() for c in self.clients for lst in c.listeners))
        # What connecting cost (handshakes, upgrades, first loads): paid once per session.
        at_connect = {client.id: client.counters() for client in self.clients}
        self.pumps = [
            asyncio.create_task(self._pump(client, listener))
            for client in self.clients
            for listener in client.listeners
        ]
        owners = prepared.owner_of()
        plan = plan_traffic(scenario, [c.phone for cs in prepared.contacts.values() for c in cs])
        self.planned = len(plan)
        start = time.time() + LEAD
        window_start = start + scenario.traffic.warmup
        self.started = start

        def on_schedule(planned: Planned, scheduled_at: float) -> None:
            if planned.delivery.duplicate:
                return
            for wamid, phone in planned.senders.items():
                user = owners.get(phone, "")
                measured = scheduled_at >= window_start
                self.collector.expect(wamid, user, scheduled_at, measured, phone)
                if self.on_send is not None:
                    self.on_send(wamid, scheduled_at, measured)

        monitor = Monitor()
        monitor.start()
        counters_task = asyncio.create_task(self._counters_at(window_start))
        server_before = await backends.scrape(self.http, target, scenario.backend.metrics_path)
        self.phase = "sending"
        await self.sender.run(plan, start, on_schedule)
        self.phase = "draining"
        deadline = time.monotonic() + drain_time(scenario)
        while time.monotonic() < deadline and self.collector.outstanding(self.clients):
            await asyncio.sleep(0.05)
        counters_start = await counters_task
        counters = window_counters(self.clients, counters_start)
        window_end = time.time()
        saturation = await monitor.stop()
        server_after = await backends.scrape(self.http, target, scenario.backend.metrics_path)
        self.phase = "closing"
        clients = self.clients
        await self.close_clients()
        window = max(window_end - window_start, 1e-6)
        open_phones = {user: contacts[0].phone for user, contacts in prepared.contacts.items()}
        groups = [
            self.collector.group_result(
                group,
                [c for c in clients if c.group == group.label],
                counters,
                window,
                at_connect=at_connect,
                open_phones=open_phones,
            )
            for group in scenario.clients
        ]
        if saturation.suspect:
            self.warnings.append("the load generator was saturated; latencies are suspect")
        measured = len(self.collector.measured())
        return BenchResult(
            scenario=scenario.name,
            target=target.url,
            started_at=start,
            duration_s=window,
            traffic=TrafficSummary(
                messages=len(self.collector.sent),
                measured=measured,
                posts=self.sender.posts,
                duplicates=self.sender.duplicates,
                send_errors=self.sender.errors,
                rate=scenario.traffic.rate,
            ),
            groups=groups,
            saturation=saturation,
            server=backends.moved(server_before, server_after) if server_after else None,
            warnings=self.warnings,
        )

    async def _counters_at(self, moment: float) -> dict[str, dict[str, int]]:
        await asyncio.sleep(max(moment - time.time(), 0.0))
        return {client.id: client.counters() for client in self.clients}

    async def _pump(self, client: Client, listener: Listener) -> None:
        async for item in listener.items():
            if isinstance(item, Received):
                if item.wamids:
                    self.collector.saw(client.id, item.wamids, item.received_at)
            elif isinstance(item, StateChange) and item.state == "failed":
                self.warnings.append(f"{client.id} ({item.transport}) failed: {item.reason}")

    async def close_clients(self) -> None:
        listeners = [lst for c in self.clients for lst in c.listeners]
        await asyncio.gather(*(lst.close() for lst in listeners), return_exceptions=True)
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)
        self.clients, self.pumps = [], []
