"""Figures of a bench run while it runs, for `wasim bench --live`.

Each listener process tallies its own clients once a second (`Tally`), from what its
`Collector` already holds: nothing is added to the path from a received frame to its
timestamp, and the tally reads only the receipts that came since its last reading. The runner
merges the processes' tallies (`snapshot`) with the sender's and the load's figures.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from wasim.bench.clients import COUNTERS, Client
from wasim.bench.measure import Collector
from wasim.bench.results import BenchResult, FaultWindow
from wasim.bench.saturation import Monitor
from wasim.bench.scenario import Scenario
from wasim.stats import LatencyHistogram, LatencySummary

if TYPE_CHECKING:  # the runner imports this module (through share)
    from wasim.bench.runner import Progress


class LiveGroup(BaseModel):
    """One client group so far: deliveries of measured messages already due, their latency,
    what the clients cost and how many are connected now; `histogram` is the latency
    HdrHistogram, encoded (merged over every process in `merge`'s result)."""

    name: str
    kind: str
    expected: int = 0
    delivered: int = 0
    requests: int = 0
    bytes: int = 0
    errors: int = 0
    reconnects: int = 0
    connected: int = 0
    histogram: str = ""
    latency: LatencySummary = Field(default_factory=LatencySummary, description="milliseconds")


class LiveLoad(BaseModel):
    """One listener process: CPU (% of a core, last second) and event-loop lag so far."""

    name: str
    cpu_percent: float = 0.0
    loop_lag_p99_ms: float = 0.0


class LiveShare(BaseModel):
    """What one listener process reports each second."""

    groups: list[LiveGroup]
    load: LiveLoad


class LiveSnapshot(BaseModel):
    """The dashboard's reading: the run's phase and progress, each group, the load, faults."""

    phase: str
    elapsed_s: float
    total_s: float
    posts: int
    planned: int
    webhooks_per_s: float = 0.0
    client_requests_per_s: float = 0.0
    groups: list[LiveGroup]
    processes: list[LiveLoad]
    machine_cpu_percent: float = 0.0
    suspect: list[str] = Field(default_factory=list)
    faults: list[FaultWindow] = Field(default_factory=list)
    final: bool = False
    passed: bool | None = None
    failures: list[str] = Field(default_factory=list)
    at: float = Field(default_factory=time.time)


def load_of(monitor: Monitor) -> LiveLoad:
    """A process's load as its monitor has it so far (`Monitor` samples CPU once a second)."""
    return LiveLoad(
        name=monitor.name,
        cpu_percent=monitor.cpu[-1] if monitor.cpu else 0.0,
        loop_lag_p99_ms=monitor.lag.percentile_ms(99.0) if monitor.lag.count else 0.0,
    )


class Tally:
    """A listener process's running figures per group, read incrementally."""

    def __init__(self, scenario: Scenario, collector: Collector) -> None:
        self.scenario = scenario
        self.collector = collector
        self.histograms = {g.label: LatencyHistogram() for g in scenario.clients}
        self.delivered = dict.fromkeys(self.histograms, 0)
        self.read_up_to: dict[str, int] = {}  # client -> receipts already counted
        self.due: dict[str, list[float]] = {}  # user -> scheduled times of measured messages

    def read(
        self, clients: Sequence[Client], load: LiveLoad, down: AbstractSet[str] = frozenset()
    ) -> LiveShare:
        """The figures so far; `down` are the clients whose connection is down now."""
        collector = self.collector
        if not self.due and collector.sent:
            for sent in collector.measured():
                self.due.setdefault(sent.user, []).append(sent.scheduled_at)
            for times in self.due.values():
                times.sort()
        now = time.time()
        expected = dict.fromkeys(self.histograms, 0)
        connected = dict.fromkeys(self.histograms, 0)
        cost = {label: dict.fromkeys(COUNTERS, 0) for label in self.histograms}
        for client in clients:
            for name, value in client.counters().items():
                cost[client.group][name] += value
            if client.failed is None and client.id not in down:
                connected[client.group] += 1
            if not client.visible or client.failed is not None:
                continue
            expected[client.group] += bisect.bisect_right(self.due.get(client.user, []), now)
            seen = collector.seen.get(client.id, {})
            start = self.read_up_to.get(client.id, 0)
            self.read_up_to[client.id] = len(seen)
            for wamid, (at, _, _) in itertools.islice(seen.items(), start, None):
                message = collector.sent.get(wamid)
                if message is not None and message.measured:
                    self.histograms[client.group].record(max(at - message.scheduled_at, 0.0))
                    self.delivered[client.group] += 1
        groups = [
            LiveGroup(
                name=g.label,
                kind=g.kind,
                expected=expected[g.label],
                delivered=self.delivered[g.label],
                requests=cost[g.label]["requests"],
                bytes=cost[g.label]["bytes"],
                errors=cost[g.label]["errors"],
                reconnects=cost[g.label]["reconnects"],
                connected=connected[g.label],
                histogram=self.histograms[g.label].encode(),
            )
            for g in self.scenario.clients
        ]
        return LiveShare(groups=groups, load=load)


def merge(shares: Sequence[LiveShare]) -> list[LiveGroup]:
    """Each group over every process, with its latency percentiles."""
    if not shares:
        return []
    merged = []
    for index, first in enumerate(shares[0].groups):
        parts = [share.groups[index] for share in shares if index < len(share.groups)]
        histogram = LatencyHistogram.decode(*(part.histogram for part in parts))
        merged.append(
            LiveGroup(
                name=first.name,
                kind=first.kind,
                expected=sum(p.expected for p in parts),
                delivered=sum(p.delivered for p in parts),
                requests=sum(p.requests for p in parts),
                bytes=sum(p.bytes for p in parts),
                errors=sum(p.errors for p in parts),
                reconnects=sum(p.reconnects for p in parts),
                connected=sum(p.connected for p in parts),
                histogram=histogram.encode(),
                latency=histogram.summary(),
            )
        )
    return merged


def final_snapshot(result: BenchResult, last: LiveSnapshot | None) -> LiveSnapshot:
    """The run's own figures, once it is over: what the report says, not a live estimate."""
    shown = {"name", "kind", "expected", "delivered", "requests", "latency"}
    groups = [LiveGroup.model_validate(g.model_dump(include=shown)) for g in result.groups]
    return LiveSnapshot(
        phase="done",
        elapsed_s=last.elapsed_s if last else result.duration_s,
        total_s=last.total_s if last else result.duration_s,
        posts=result.traffic.posts,
        planned=last.planned if last else result.traffic.posts,
        groups=groups,
        processes=last.processes if last else [],
        machine_cpu_percent=result.saturation.machine.cpu_percent_mean,
        suspect=list(result.saturation.reasons),
        faults=result.faults,
        final=True,
        passed=result.passed,
        failures=result.failures(),
    )


class Feed:
    """Turns the processes' tallies into one `LiveSnapshot` a second, with rates."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self.next = 0.0
        self.last: LiveSnapshot | None = None
        self._before: tuple[float, int, int] | None = None  # time, posts, client requests

    def due(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.every
        return True

    def reading(
        self,
        progress: Progress,
        shares: Sequence[LiveShare],
        machine_cpu: float,
        faults: Sequence[FaultWindow] = (),
    ) -> LiveSnapshot:
        groups = merge(shares)
        requests = sum(g.requests for g in groups)
        now = time.monotonic()
        webhooks_per_s = requests_per_s = 0.0
        if self._before is not None and now > self._before[0]:
            span = now - self._before[0]
            webhooks_per_s = (progress.sent - self._before[1]) / span
            requests_per_s = (requests - self._before[2]) / span
        self._before = (now, progress.sent, requests)
        processes = [share.load for share in shares]
        self.last = LiveSnapshot(
            phase=progress.phase,
            elapsed_s=progress.elapsed,
            total_s=progress.total,
            posts=progress.sent,
            planned=progress.planned,
            webhooks_per_s=webhooks_per_s,
            client_requests_per_s=requests_per_s,
            groups=groups,
            processes=processes,
            machine_cpu_percent=machine_cpu,
            faults=list(faults),
        )
        return self.last
