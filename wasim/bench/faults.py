"""Fault figures of one listener process's clients (see `FaultFigures`), and their merge.

The share records each client's connection states as its listeners report them and, for
hybrid clients, when fallback polling ran; with the Collector's first receipts and the
counters taken at each fault's start and end, this gives per fault and group: how each
message sent during it reached each client, how long clients took to notice and to
reconnect, what it cost, and the latency of messages sent during it against the steady
state: those sent before the first fault.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wasim.bench.clients import Client
from wasim.bench.measure import Collector
from wasim.bench.results import FaultFigures
from wasim.bench.scenario import Scenario
from wasim.stats import LatencyHistogram, LatencySummary
from wasim.transports.hybrid import HybridListener

NOTICE_WITHIN = 1.0  # a client that gives up later than this after a fault's end: not its doing


@dataclass
class FaultLog:
    """What a share's clients lived through: state changes, and counters at fault edges."""

    states: dict[str, list[tuple[float, str, str]]] = field(default_factory=dict)
    counters: dict[tuple[int, str], dict[str, dict[str, int]]] = field(default_factory=dict)

    def state(self, client: str, at: float, transport: str, state: str) -> None:
        self.states.setdefault(client, []).append((at, transport, state))


def windows(scenario: Scenario, start: float) -> list[tuple[float, float]]:
    """Each fault's planned wall-clock window, for a run whose traffic starts at `start`."""
    return [(start + f.start, start + f.start + f.duration) for f in scenario.faults]


def _outage(states: list[tuple[float, str, str]], a: float, b: float) -> tuple[float, float | None]:
    """When the client gave up its connection in the fault [a, b], and when it was back."""
    noticed = next(
        (at for at, _, state in states if state == "reconnecting" and a <= at <= b + NOTICE_WITHIN),
        None,
    )
    if noticed is None:
        return -1.0, None
    back = next((at for at, _, state in states if state == "connected" and at > noticed), None)
    return noticed, back


def figures(
    scenario: Scenario,
    start: float,
    clients: list[Client],
    collector: Collector,
    log: FaultLog,
) -> tuple[list[FaultFigures], LatencySummary | None, str]:
    """Per fault, the group's figures; and the steady latency (summary and histogram)."""
    spans = windows(scenario, start)
    names = scenario.fault_names()
    visible = [c for c in clients if c.visible and c.failed is None]
    result: list[FaultFigures] = []
    for index, (a, b) in enumerate(spans):
        fault = FaultFigures(fault=names[index], kind=scenario.faults[index].kind)
        histogram = LatencyHistogram()
        begin, end = log.counters.get((index, "start"), {}), log.counters.get((index, "end"), {})
        for client in visible:
            states = log.states.get(client.id, [])
            pushed = [s for s in states if s[1] != "poll"] or states
            noticed, back = _outage(pushed, a, b)
            if noticed >= 0:
                fault.noticed.append((noticed - a) * 1000)
                if back is not None:
                    fault.reconnected.append(max(back - max(b, noticed), 0.0) * 1000)
                _fallback(client, fault, noticed, back)
            before, after = begin.get(client.id, {}), end.get(client.id, {})
            fault.requests += after.get("requests", 0) - before.get("requests", 0)
            _reached(client, collector, fault, histogram, a, b, back)
        fault.latency = histogram.summary()
        fault.histogram = histogram.encode()
        result.append(fault)
    steady = LatencyHistogram()
    calm_until = min(a for a, _ in spans)  # a restart's real end is known only to the runner
    for sent in collector.measured():
        if sent.scheduled_at >= calm_until:
            continue
        for client in visible:
            receipt = collector.seen.get(client.id, {}).get(sent.wamid)
            if client.user == sent.user and receipt is not None:
                steady.record(max(receipt[0] - sent.scheduled_at, 0.0))
    return result, steady.summary() if steady.count else None, steady.encode()


def _reached(
    client: Client,
    collector: Collector,
    fault: FaultFigures,
    histogram: LatencyHistogram,
    a: float,
    b: float,
    back: float | None,
) -> None:
    held = collector.seen.get(client.id, {})
    repeats = collector.repeats.get(client.id, {})
    for sent in collector.sent.values():
        if sent.user != client.user or not a <= sent.scheduled_at <= b:
            continue
        fault.deliveries += 1
        fault.duplicated += repeats.get(sent.wamid, 0)
        receipt = held.get(sent.wamid)
        if receipt is None:
            fault.reached["never"] += 1
            continue
        at, _, via = receipt
        histogram.record(max(at - sent.scheduled_at, 0.0))
        if via == "poll":
            how = "poll"
        elif back is not None and sent.scheduled_at < back <= at:
            how = "replay"
        else:
            how = "live"
        fault.reached[how] += 1


def _fallback(client: Client, fault: FaultFigures, noticed: float, back: float | None) -> None:
    for listener in client.listeners:
        if not isinstance(listener, HybridListener):
            continue
        for span in listener.fallbacks:
            if span[0] >= noticed and (back is None or span[0] <= back):
                fault.fallback_started.append((span[0] - noticed) * 1000)
                if len(span) > 1 and back is not None:
                    fault.fallback_stopped.append(max(span[1] - back, 0.0) * 1000)
                break
