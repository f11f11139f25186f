"""The result of a bench run as typed models, and its stable JSON form (schema `wasim.bench/1`).

`BenchResult.model_dump(mode="json")` is the JSON document; its JSON Schema is generated from
these models (`json_schema()`) and published as `docs/bench-result.schema.json`. Fields are only
ever added within a schema version. Reading a document back (`model_validate`) ignores the
figures derived from others (rates, ratios), which are recomputed.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_serializer,
    field_validator,
)

from wasim.stats import LatencyHistogram, LatencySummary

SCHEMA = "wasim.bench/1"
MISSING_SHOWN = 20


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Missing(_Model):
    """A delivery a client never got."""

    wamid: str
    user: str
    client: str


class ExpectedLatency(_Model):
    """The analytical latency of a polling pattern (see `wasim.bench.expectation`).

    `mean_ms` and `max_ms` are over this run's measured messages; `formula` and `formula_ms`
    the textbook case (a message of the open chat that nothing supersedes); `interval_s` the
    fastest poller's interval, whose T/2 alone would overstate the wait when pollers overlap.
    """

    interval_s: float
    mean_ms: float
    max_ms: float
    pattern: str = ""
    formula: str = ""
    formula_ms: float = 0.0
    unshown: int = 0

    @property
    def single_poller_mean_ms(self) -> float:
        return self.interval_s * 500.0


class FaultWindow(_Model):
    """A fault the scenario injected, as it happened: seconds after the measured window opened."""

    kind: str
    name: str = Field(default="", description="the fault's label in threshold figures")
    start_s: float
    end_s: float
    detail: str = ""


REACHED = ("live", "replay", "poll", "never")


def _percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0-1) of `values`, nearest rank: one of the measured values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class FaultFigures(_Model):
    """One fault as one client group lived it (times in ms).

    `deliveries` are the messages sent during the fault times the visible clients that should
    get each; `reached` says how each did: `live` (pushed over a connection that never
    dropped in between), `replay` (pushed after a reconnect, by the backend's resume),
    `poll` (found by polling, hybrid's fallback included) or `never`. `noticed` is, per client
    that noticed, the time from the fault's start to its connection giving up; `reconnected`
    the time from when it could reconnect (the fault over, or noticed later) to connected.
    `fallback_started` (hybrid) is the time from noticing to polling, `fallback_stopped`
    from connected again to polling stopped.
    """

    fault: str
    kind: str
    deliveries: int = 0
    reached: dict[str, int] = Field(default_factory=lambda: dict.fromkeys(REACHED, 0))
    duplicated: int = Field(default=0, description="push events of a message the client held")
    requests: int = Field(default=0, description="made by the group during the fault")
    noticed: list[float] = Field(default_factory=list)
    reconnected: list[float] = Field(default_factory=list)
    fallback_started: list[float] = Field(default_factory=list)
    fallback_stopped: list[float] = Field(default_factory=list)
    latency: LatencySummary = Field(default_factory=LatencySummary, description="ms")
    histogram: str = ""

    def merged(self, other: FaultFigures) -> FaultFigures:
        histogram = LatencyHistogram.decode(self.histogram, other.histogram)
        return FaultFigures(
            fault=self.fault,
            kind=self.kind,
            deliveries=self.deliveries + other.deliveries,
            reached={k: self.reached.get(k, 0) + other.reached.get(k, 0) for k in REACHED},
            duplicated=self.duplicated + other.duplicated,
            requests=self.requests + other.requests,
            noticed=self.noticed + other.noticed,
            reconnected=self.reconnected + other.reconnected,
            fallback_started=self.fallback_started + other.fallback_started,
            fallback_stopped=self.fallback_stopped + other.fallback_stopped,
            latency=histogram.summary(),
            histogram=histogram.encode(),
        )

    def figures(self, prefix: str) -> dict[str, float]:
        """`<prefix>.messages`, `.live` … `.never`, `.missed`, `.duplicated`, `.requests`,
        `.notice.p50|p99|max`, `.reconnect.…`, `.fallback.started.…`, `.fallback.stopped.…`,
        `.latency.p50|p95|p99|max` (where there is something to measure)."""
        figures = {f"{prefix}.messages": float(self.deliveries)}
        for name in REACHED:
            figures[f"{prefix}.{name}"] = float(self.reached.get(name, 0))
        figures[f"{prefix}.missed"] = float(self.reached.get("never", 0))
        figures[f"{prefix}.duplicated"] = float(self.duplicated)
        figures[f"{prefix}.requests"] = float(self.requests)
        for name, values in (
            ("notice", self.noticed),
            ("reconnect", self.reconnected),
            ("fallback.started", self.fallback_started),
            ("fallback.stopped", self.fallback_stopped),
        ):
            if values:
                for label, q in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
                    figures[f"{prefix}.{name}.{label}"] = _percentile(values, q)
        if self.latency.count:
            for label in ("p50", "p95", "p99", "max"):
                figures[f"{prefix}.latency.{label}"] = float(getattr(self.latency, label))
        return figures


def merge_faults(parts: list[list[FaultFigures]]) -> list[FaultFigures]:
    """One group's fault figures over parts of a run measured apart (processes, shards)."""
    merged: list[FaultFigures] = []
    for figures in zip(*parts, strict=True):
        total = figures[0]
        for other in figures[1:]:
            total = total.merged(other)
        merged.append(total)
    return merged


class Moments(_Model):
    """Count, sum and sum of squares of some values: added up across shards, they still give
    the values' mean and standard deviation exactly."""

    count: int = 0
    total: float = 0.0
    squares: float = 0.0

    @classmethod
    def of(cls, values: list[float]) -> Moments:
        return cls(count=len(values), total=sum(values), squares=sum(v * v for v in values))

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            count=self.count + other.count,
            total=self.total + other.total,
            squares=self.squares + other.squares,
        )

    def standard_error(self) -> float:
        """Of the mean (sample standard deviation over the square root of the count)."""
        if self.count < 2:
            return 0.0
        variance = (self.squares - self.total * self.total / self.count) / (self.count - 1)
        return math.sqrt(max(variance, 0.0) / self.count)


class GroupResult(_Model):
    """Figures of one client group (one column of the comparison table)."""

    name: str
    kind: str
    clients: int
    visible_clients: int
    users: int
    latency: LatencySummary = Field(description="milliseconds")
    latency_mean_se_ms: float = Field(
        default=0.0, description="standard error of the mean latency, with clients as the units"
    )
    client_means: Moments = Field(
        default_factory=Moments,
        description="of each client's mean latency (s): what merging shards needs for the "
        "standard error",
    )
    histogram: str = Field(default="", description="HdrHistogram, base64: mergeable across runs")
    expected: int
    delivered: int
    missing_count: int
    missing: list[Missing] = Field(default_factory=list, description="the first 20")
    requests: int = Field(description="in the measured window")
    bytes: int
    not_modified: int
    etags: int = Field(default=0, description="answers that carried an ETag")
    errors: int
    reconnects: int
    connect_requests: int = Field(
        default=0, description="opening the clients: handshakes, first loads"
    )
    connect_bytes: int = 0
    window_s: float
    per_user: dict[str, dict[str, int]] = Field(default_factory=dict)
    expected_latency: ExpectedLatency | None = Field(
        default=None,
        description="polling's analytical wait: the first of several independent pollers",
    )
    per_process: list[dict[str, int]] = Field(
        default_factory=list, description="the listener processes whose parts were merged"
    )
    matched_by: dict[str, int] = Field(
        default_factory=dict,
        description="how deliveries were found (id, marker) and over which path (push, poll)",
    )
    unmatched: int = Field(default=0, description="push events that carried nothing this run sent")
    unmatched_keys: dict[str, list[str]] = Field(
        default_factory=dict, description="event name -> the dotted keys such an event had"
    )
    failed_clients: int = 0
    failure: str = Field(default="", description="why clients could not connect (the first reason)")
    faults: list[FaultFigures] = Field(
        default_factory=list, description="per fault of the scenario, in its order"
    )
    steady: LatencySummary | None = Field(
        default=None, description="latency (ms) of the messages sent before the first fault"
    )
    steady_histogram: str = ""
    timeline: list[tuple[float, float]] = Field(
        default_factory=list,
        description="(seconds after the window opened, latency ms) per delivery, at most 2,000",
    )

    @field_serializer("missing")
    def _first_missing(self, missing: list[Missing]) -> list[Missing]:
        return missing[:MISSING_SHOWN]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> bool:
        """No client of the group could connect: the column measured nothing."""
        return self.clients > 0 and self.failed_clients >= self.clients

    @computed_field  # type: ignore[prop-decorator]
    @property
    def delivery_ratio(self) -> float:
        return self.delivered / self.expected if self.expected else 1.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests_per_minute(self) -> float:
        """The measured window's rate, all users: the steady state, without connecting."""
        return self.requests * 60.0 / self.window_s if self.window_s else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def requests_per_user_hour(self) -> float:
        """One user's one-hour session: connecting once, then the window's rate for an hour."""
        return self._per_user_hour(self.connect_requests, self.requests)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def bytes_per_user_hour(self) -> float:
        return self._per_user_hour(self.connect_bytes, self.bytes)

    def _per_user_hour(self, at_connect: int, in_window: int) -> float:
        hourly = in_window * 3600.0 / self.window_s if self.window_s else 0.0
        return (at_connect + hourly) / max(self.users, 1)

    def figures(self) -> dict[str, float]:
        prefix = self.name
        figures: dict[str, float] = {
            f"{prefix}.latency.{key}": float(value)
            for key, value in self.latency.model_dump().items()
            if key != "count" and self.latency.count
        }
        for name in (
            "delivered",
            "expected",
            "delivery_ratio",
            "requests",
            "connect_requests",
            "requests_per_minute",
            "requests_per_user_hour",
            "bytes_per_user_hour",
            "not_modified",
            "errors",
            "reconnects",
        ):
            figures[f"{prefix}.{name}"] = float(getattr(self, name))
        figures[f"{prefix}.missing"] = float(self.missing_count)
        figures.update(self._fault_figures())
        return figures

    def _fault_figures(self) -> dict[str, float]:
        """Per fault (`<group>.faults.<fault>.…`), over all faults (`<group>.fault.…`, and
        `<group>.missed`, `.duplicated`, `.notice.…`, `.reconnect.…`, `.fallback.…` for
        short), and the steady state (`<group>.steady.latency.…`)."""
        if not self.faults:
            return {}
        figures: dict[str, float] = {}
        total = self.faults[0]
        for index, fault in enumerate(self.faults):
            figures.update(fault.figures(f"{self.name}.faults.{fault.fault}"))
            total = total.merged(fault) if index else fault
            if self.steady is not None and self.steady.count and fault.latency.count:
                added = fault.latency.p50 - self.steady.p50
                figures[f"{self.name}.faults.{fault.fault}.latency.added"] = added
        overall = total.figures(f"{self.name}.fault")
        figures.update(overall)
        short = ("missed", "duplicated", "notice.", "reconnect.", "fallback.")
        for name, value in overall.items():
            tail = name.removeprefix(f"{self.name}.fault.")
            if tail.startswith(short):
                figures[f"{self.name}.{tail}"] = value
        if self.steady is not None and self.steady.count:
            for label in ("p50", "p95", "p99", "max"):
                figures[f"{self.name}.steady.latency.{label}"] = getattr(self.steady, label)
        return figures


class ProcessLoad(_Model):
    """CPU (% of one core) and event-loop lag of one listener process over the run;
    `reasons` says which limit it passed, if any."""

    model_config = ConfigDict(frozen=True)

    name: str = "listener process 1/1"
    pid: int = 0
    clients: int = 0
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    reasons: tuple[str, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def suspect(self) -> bool:
        return bool(self.reasons)


class MachineLoad(_Model):
    """All cores, every process on the machine, over the run."""

    model_config = ConfigDict(frozen=True)

    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    cores: int = 0
    busy: bool = False


class Saturation(_Model):
    """How busy the load generator and its machine were; `suspect` when timings cannot be
    trusted. The flat figures are the busiest listener process's; `reasons` name the process
    (or the machine) that passed a limit."""

    model_config = ConfigDict(frozen=True)

    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    reasons: tuple[str, ...] = ()
    processes: tuple[ProcessLoad, ...] = ()
    machine: MachineLoad = Field(default_factory=MachineLoad)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def suspect(self) -> bool:
        return bool(self.reasons)

    @property
    def headline(self) -> str:
        """Who was saturated, in a few words: `listener process 2/4 saturated; machine busy`."""
        parts = [f"{p.name} saturated" for p in self.processes if p.suspect]
        if self.machine.busy:
            parts.append("machine busy")
        if not parts and self.suspect:
            parts.append("load generator saturated")
        return "; ".join(parts)


class TrafficSummary(_Model):
    messages: int = 0
    measured: int = 0
    posts: int = 0
    duplicates: int = 0
    send_errors: int = 0
    rate: float = 0.0


class Verdict(_Model):
    """A threshold checked against a run: the figure's value and whether it held."""

    expression: str
    figure: str
    actual: float | None
    passed: bool
    message: str


class Regression(_Model):
    """One figure compared with the baseline; `change` is relative (0.25 = 25% worse)."""

    figure: str
    baseline: float
    actual: float
    change: float
    passed: bool


class ShardInfo(_Model):
    """Which shard of which run a result is (`wasim bench --shard I/N`): what `wasim report
    merge` checks before adding shards up."""

    index: int = Field(description="1-based")
    count: int
    scenario: str
    seed: int
    scenario_hash: str = Field(description="the scenario's content, backend address and seed aside")


class BenchResult(_Model):
    """A whole run: what was sent, each column's figures, the load side, the verdicts."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    scenario: str
    seed: int | None = Field(
        default=None, description="the traffic seed: --seed repeats the run's ids"
    )
    target: str
    started_at: float = Field(description="Unix time; written as ISO 8601 (UTC)")
    duration_s: float = Field(description="the measured window, after warm-up, with the drain")
    traffic: TrafficSummary
    groups: list[GroupResult]
    saturation: Saturation = Field(default_factory=Saturation)
    server: dict[str, float] | None = Field(
        default=None, description="backend /metrics counters that moved during the run"
    )
    faults: list[FaultWindow] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    thresholds: list[Verdict] = Field(default_factory=list)
    regressions: list[Regression] = Field(default_factory=list)
    shard: ShardInfo | None = Field(
        default=None, description="this result is one shard of a run (wasim bench --shard)"
    )
    shards: list[ShardInfo] = Field(
        default_factory=list, description="the shards merged into this result (wasim report merge)"
    )

    model_config = ConfigDict(extra="ignore", populate_by_name=True, serialize_by_alias=True)

    @field_serializer("started_at")
    def _iso(self, started_at: float) -> str:
        return datetime.datetime.fromtimestamp(started_at, datetime.UTC).isoformat()

    @field_validator("started_at", mode="before")
    @classmethod
    def _from_iso(cls, started_at: object) -> object:
        if isinstance(started_at, str):
            return datetime.datetime.fromisoformat(started_at).timestamp()
        return started_at

    @computed_field  # type: ignore[prop-decorator]
    @property
    def suspect(self) -> bool:
        """A listener process was saturated or the machine busy (see `saturation`)."""
        return self.saturation.suspect

    @computed_field  # type: ignore[prop-decorator]
    @property
    def processes(self) -> int:
        """How many listener processes held the clients."""
        return max(len(self.saturation.processes), 1)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def passed(self) -> bool:
        """Every threshold held, no regression past the allowance, every column connected."""
        return not self.failures()

    @property
    def delivery_ratio(self) -> float:
        expected = sum(group.expected for group in self.groups)
        delivered = sum(group.delivered for group in self.groups)
        return delivered / expected if expected else 1.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def figures(self) -> dict[str, float]:
        """What thresholds and baselines read, by dotted name."""
        figures: dict[str, float] = {
            "delivery_ratio": self.delivery_ratio,
            "messages": float(self.traffic.messages),
            "send_errors": float(self.traffic.send_errors),
        }
        for group in self.groups:
            figures.update(group.figures())
        for name, value in (self.server or {}).items():
            figures[f"server.{name}"] = value
        return figures

    def failures(self, verdicts: bool = True) -> list[str]:
        """What makes the run fail: a column that could not connect; with `verdicts`, a
        threshold or a baseline figure that did not hold (a shard leaves them to the merge)."""
        failed = [f"{g.name} could not connect: {g.failure}" for g in self.groups if g.failed]
        if not verdicts:
            return failed
        failed += [v.message for v in self.thresholds if not v.passed]
        failed += [
            f"{r.figure} regressed {r.change:+.0%} against the baseline "
            f"({r.baseline:.4g} → {r.actual:.4g})"
            for r in self.regressions
            if not r.passed
        ]
        return failed

    def document(self) -> dict[str, Any]:
        """The JSON document (schema `wasim.bench/1`)."""
        return self.model_dump(mode="json")


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the bench result document, as published in docs/."""
    schema = BenchResult.model_json_schema(mode="serialization")
    schema["$id"] = "https://wasim.dev/schemas/bench-result-1.json"
    schema["title"] = SCHEMA
    return schema
