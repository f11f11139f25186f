"""The live figures of a bench or listen run as metrics: names, kinds, labels, values.

One reading (`LiveSnapshot`, the figures `wasim bench --live` shows, merged over every listener
process) becomes a list of `Figure`s; `wasim.observe.prometheus` exposes them and
`wasim.observe.otlp` pushes them, so both carry the same numbers under the same names.
Counters are cumulative since the run started; the latency histogram counts deliveries of
measured messages (after the warm-up) by their latency in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wasim.stats import LatencyHistogram

if TYPE_CHECKING:  # wasim.bench is heavy to import; `wasim listen` only needs it with metrics
    from wasim.bench.live import LiveGroup, LiveSnapshot

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]

# Latency bucket bounds (seconds): from a push delivery on a quiet machine (~1 ms) to a
# slow poller's or an overloaded backend's (a minute).
BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

# Every phase a run goes through, so a dashboard can graph `wasim_run_phase` as a state.
PHASES = (
    "starting", "setup", "connecting", "sending", "draining", "closing", "listening", "done",
)  # fmt: skip


@dataclass(frozen=True)
class Buckets:
    """A histogram's value: cumulative counts at each of `BUCKETS_S`, then the totals."""

    cumulative: tuple[int, ...]
    count: int
    sum: float
    min: float
    max: float


@dataclass(frozen=True)
class Figure:
    """One metric: its name (without a `_total` suffix), kind, help, unit and points."""

    name: str
    kind: Kind
    help: str
    unit: str
    points: tuple[tuple[Labels, float | Buckets], ...]


def buckets_of(group: LiveGroup) -> Buckets:
    """A group's latency histogram as bucket counts; its sum from the summary `merge` made
    (count × mean), not summed again."""
    histogram = LatencyHistogram.decode(group.histogram)
    return Buckets(
        cumulative=tuple(histogram.cumulative(BUCKETS_S)),
        count=histogram.count,
        sum=group.latency.count * group.latency.mean / 1000.0,
        min=histogram.min_s,
        max=histogram.max_s,
    )


_PER_GROUP: tuple[tuple[str, Kind, str, str, str], ...] = (
    # (name, kind, help, unit, LiveGroup field)
    ("wasim_deliveries", "counter", "Messages delivered to a client, first receipt.", "1",
     "delivered"),
    ("wasim_expected_deliveries", "counter",
     "Deliveries due so far: measured messages sent × the visible clients of their user.", "1",
     "expected"),
    ("wasim_client_requests", "counter", "HTTP requests and handshakes the clients made.", "1",
     "requests"),
    ("wasim_client_received_bytes", "counter", "Bytes the clients received.", "By", "bytes"),
    ("wasim_client_errors", "counter", "Errors the clients met (refused, dropped, bad answer).",
     "1", "errors"),
    ("wasim_reconnects", "counter", "Reconnections after a dropped connection.", "1",
     "reconnects"),
    ("wasim_listeners_connected", "gauge", "Clients whose connection is up now.", "1",
     "connected"),
)  # fmt: skip


def figures(
    snapshot: LiveSnapshot, labels: Mapping[str, str] | None = None, bench: bool = True
) -> list[Figure]:
    """The metrics of one reading; `labels` (e.g. `shard`) go on every point. A listen run
    (`bench` False) has no expected deliveries (it does not know what was sent) and no
    machine-wide CPU."""
    extra = tuple(sorted((labels or {}).items()))

    def group_labels(group: LiveGroup) -> Labels:
        return (("kind", group.kind), ("group", group.name), *extra)

    result = [
        Figure(
            name,
            kind,
            text,
            unit,
            tuple((group_labels(g), float(getattr(g, field))) for g in snapshot.groups),
        )
        for name, kind, text, unit, field in _PER_GROUP
        if bench or field != "expected"
    ]
    result.append(
        Figure(
            "wasim_delivery_latency_seconds",
            "histogram",
            "Delivery latency of measured messages: first receipt − scheduled webhook POST.",
            "s",
            tuple((group_labels(g), buckets_of(g)) for g in snapshot.groups),
        )
    )
    result += saturation(snapshot, extra, machine=bench)
    return result


def saturation(snapshot: LiveSnapshot, extra: Labels, machine: bool) -> list[Figure]:
    """The load generator's own load: a saturated one measures its own delays."""
    processes = [((("process", p.name), *extra), p) for p in snapshot.processes]
    result = [
        Figure(
            "wasim_process_cpu_percent",
            "gauge",
            "CPU of each listener process over the last second, % of one core.",
            "%",
            tuple((labels, p.cpu_percent) for labels, p in processes),
        ),
        Figure(
            "wasim_event_loop_lag_p99_seconds",
            "gauge",
            "p99 of how late each listener process's event loop woke (10 ms ticks) so far.",
            "s",
            tuple((labels, p.loop_lag_p99_ms / 1000.0) for labels, p in processes),
        ),
    ]
    if machine:
        result.append(
            Figure(
                "wasim_machine_cpu_percent",
                "gauge",
                "CPU of the whole machine over the last second, % of all cores (bench).",
                "%",
                ((extra, snapshot.machine_cpu_percent),),
            )
        )
    return result


def run_figures(
    phase: str, posts: int | None, planned: int, labels: Mapping[str, str] | None = None
) -> list[Figure]:
    """The run's phase (1 for the current one, 0 for the others) and, for a bench (`posts`
    not None), its webhooks sent and planned."""
    extra = tuple(sorted((labels or {}).items()))
    phases = (*PHASES, phase) if phase not in PHASES else PHASES
    result = [
        Figure(
            "wasim_run_phase",
            "gauge",
            "The run's phase: 1 for the current one.",
            "1",
            tuple(((("phase", name), *extra), float(name == phase)) for name in phases),
        )
    ]
    if posts is None:
        return result
    return [
        *result,
        Figure(
            "wasim_webhooks_sent",
            "counter",
            "Webhook POSTs sent so far (bench).",
            "1",
            ((extra, float(posts)),),
        ),
        Figure(
            "wasim_webhooks_planned",
            "gauge",
            "Webhook POSTs the run plans to send (bench).",
            "1",
            ((extra, float(planned)),),
        ),
    ]
