"""The result of a bench run, and its stable JSON form (schema `wasim.bench/1`).

JSON document (`BenchResult.to_dict()`); fields are only ever added within a schema version:

    schema        "wasim.bench/1"
    scenario      scenario name;  seed: the traffic seed (`--seed` repeats the run's ids)
    target        the backend URL;  started_at: ISO 8601 (UTC)
    duration_s    wall time of the measured window (after warm-up, including the drain)
    suspect       true when a listener process was saturated or the machine busy (see
                  `saturation`)
    warnings      [text]
    traffic       {messages, measured, posts, duplicates, send_errors, rate}
    groups        [{name, kind, clients, visible_clients, users,
                    latency {count, mean, p50, p90, p95, p99, max} (ms), latency_mean_se_ms
                    (standard error of the mean, clients as units), histogram (HdrHistogram
                    base64, mergeable), expected, delivered, delivery_ratio, missing_count,
                    missing [{wamid, user, client}] (first 20), requests, bytes, not_modified,
                    errors, reconnects (in the measured window), connect_requests,
                    connect_bytes (opening the clients: handshakes, upgrades, first loads),
                    requests_per_minute (window rate, all users), requests_per_user_hour,
                    bytes_per_user_hour (a one-hour session: the connect once plus the
                    window's rate for an hour, per user), per_user {user: {requests, bytes}},
                    expected_latency {interval_s, mean_ms, max_ms, pattern, formula,
                    formula_ms, unshown} | null (polling's analytical wait: the first of
                    several independent pollers; see wasim.bench.expectation),
                    per_process [{process, clients, expected, delivered}] (the listener
                    processes whose parts were merged into these figures), etags (answers
                    that carried an ETag), matched_by {id, marker, push, poll} (how the
                    deliveries were found, and over which path), unmatched (push events that
                    carried nothing sent), unmatched_keys {event: [dotted keys]}, failed
                    (no client could connect), failed_clients, failure (the first reason)}]
    server        backend `/metrics` counters that moved during the run | null
    processes     how many listener processes held the clients
    saturation    {cpu_percent_mean, cpu_percent_max, loop_lag_p99_ms, loop_lag_max_ms (the
                   busiest listener process), suspect, reasons (each naming its process or
                   the machine), processes [{name, pid, clients, cpu_percent_mean,
                   cpu_percent_max, loop_lag_p99_ms, loop_lag_max_ms, suspect, reasons}],
                   machine {cpu_percent_mean, cpu_percent_max, cores, busy} (all cores,
                   every process on the machine, over the run)}
    figures       {dotted figure name: number}: what thresholds and baselines read
    thresholds    [{expression, figure, actual, passed, message}]
    regressions   [{figure, baseline, actual, change, passed}]
    passed        every threshold held, no regression beyond the allowance, every column
                  could connect
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from wasim.bench.thresholds import Outcome
from wasim.stats import LatencySummary

SCHEMA = "wasim.bench/1"
MISSING_SHOWN = 20


@dataclass(frozen=True)
class Missing:
    wamid: str
    user: str
    client: str


@dataclass(frozen=True)
class ExpectedLatency:
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "interval_s": self.interval_s,
            "mean_ms": self.mean_ms,
            "max_ms": self.max_ms,
            "pattern": self.pattern,
            "formula": self.formula,
            "formula_ms": self.formula_ms,
            "unshown": self.unshown,
        }


@dataclass
class GroupResult:
    """Figures of one client group (one column of the comparison table)."""

    name: str
    kind: str
    clients: int
    visible_clients: int
    users: int
    latency: LatencySummary
    histogram: str
    expected: int
    delivered: int
    missing: list[Missing]
    missing_count: int
    requests: int
    bytes: int
    not_modified: int
    errors: int
    reconnects: int
    window_s: float
    per_user: dict[str, dict[str, int]] = field(default_factory=dict)
    expected_latency: ExpectedLatency | None = None
    connect_requests: int = 0
    connect_bytes: int = 0
    latency_mean_se_ms: float = 0.0
    per_process: list[dict[str, int]] = field(default_factory=list)
    etags: int = 0
    matched_by: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    unmatched_keys: dict[str, list[str]] = field(default_factory=dict)
    failed_clients: int = 0
    failure: str = ""

    @property
    def failed(self) -> bool:
        """No client of the group could connect: the column measured nothing."""
        return self.clients > 0 and self.failed_clients >= self.clients

    @property
    def delivery_ratio(self) -> float:
        return self.delivered / self.expected if self.expected else 1.0

    @property
    def requests_per_minute(self) -> float:
        """The measured window's rate, all users: the steady state, without connecting."""
        return self.requests * 60.0 / self.window_s if self.window_s else 0.0

    @property
    def requests_per_user_hour(self) -> float:
        """One user's one-hour session: connecting once, then the window's rate for an hour."""
        return self._per_user_hour(self.connect_requests, self.requests)

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
            for key, value in self.latency.as_dict().items()
            if key != "count" and self.latency.count
        }
        figures.update(
            {
                f"{prefix}.delivered": float(self.delivered),
                f"{prefix}.expected": float(self.expected),
                f"{prefix}.missing": float(self.missing_count),
                f"{prefix}.delivery_ratio": self.delivery_ratio,
                f"{prefix}.requests": float(self.requests),
                f"{prefix}.connect_requests": float(self.connect_requests),
                f"{prefix}.requests_per_minute": self.requests_per_minute,
                f"{prefix}.requests_per_user_hour": self.requests_per_user_hour,
                f"{prefix}.bytes_per_user_hour": self.bytes_per_user_hour,
                f"{prefix}.not_modified": float(self.not_modified),
                f"{prefix}.errors": float(self.errors),
                f"{prefix}.reconnects": float(self.reconnects),
            }
        )
        return figures

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupResult:
        """The inverse of `to_dict` (its derived rates are recomputed, not read)."""
        expected = data.get("expected_latency")
        return cls(
            name=data["name"],
            kind=data["kind"],
            clients=data["clients"],
            visible_clients=data["visible_clients"],
            users=data["users"],
            latency=LatencySummary(
                *(data["latency"][k] for k in ("count", "mean", "p50", "p90", "p95", "p99", "max"))
            ),
            histogram=data["histogram"],
            expected=data["expected"],
            delivered=data["delivered"],
            missing=[Missing(**item) for item in data["missing"]],
            missing_count=data["missing_count"],
            requests=data["requests"],
            bytes=data["bytes"],
            not_modified=data["not_modified"],
            errors=data["errors"],
            reconnects=data["reconnects"],
            window_s=data.get("window_s", 0.0),
            per_user=data["per_user"],
            expected_latency=None if expected is None else ExpectedLatency(**expected),
            connect_requests=data["connect_requests"],
            connect_bytes=data["connect_bytes"],
            latency_mean_se_ms=data["latency_mean_se_ms"],
            per_process=data.get("per_process", []),
            etags=data.get("etags", 0),
            matched_by=data.get("matched_by", {}),
            unmatched=data.get("unmatched", 0),
            unmatched_keys=data.get("unmatched_keys", {}),
            failed_clients=data.get("failed_clients", 0),
            failure=data.get("failure", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        expected = self.expected_latency
        return {
            "name": self.name,
            "kind": self.kind,
            "clients": self.clients,
            "visible_clients": self.visible_clients,
            "users": self.users,
            "latency": self.latency.as_dict(),
            "histogram": self.histogram,
            "expected": self.expected,
            "delivered": self.delivered,
            "delivery_ratio": self.delivery_ratio,
            "missing_count": self.missing_count,
            "missing": [vars(item) for item in self.missing[:MISSING_SHOWN]],
            "requests": self.requests,
            "bytes": self.bytes,
            "connect_requests": self.connect_requests,
            "connect_bytes": self.connect_bytes,
            "latency_mean_se_ms": self.latency_mean_se_ms,
            "not_modified": self.not_modified,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "requests_per_minute": self.requests_per_minute,
            "requests_per_user_hour": self.requests_per_user_hour,
            "bytes_per_user_hour": self.bytes_per_user_hour,
            "per_user": self.per_user,
            "expected_latency": None if expected is None else expected.as_dict(),
            "per_process": self.per_process,
            "etags": self.etags,
            "matched_by": self.matched_by,
            "unmatched": self.unmatched,
            "unmatched_keys": self.unmatched_keys,
            "failed": self.failed,
            "failed_clients": self.failed_clients,
            "failure": self.failure,
        }


@dataclass(frozen=True)
class ProcessLoad:
    """CPU (% of one core) and event-loop lag of one listener process over the run;
    `reasons` says which limit it passed, if any."""

    name: str = "listener process 1/1"
    pid: int = 0
    clients: int = 0
    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    reasons: tuple[str, ...] = ()

    @property
    def suspect(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "reasons": list(self.reasons), "suspect": self.suspect}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessLoad:
        fields = {key: value for key, value in data.items() if key != "suspect"}
        return cls(**{**fields, "reasons": tuple(data.get("reasons", ()))})


@dataclass(frozen=True)
class Saturation:
    """How busy the load generator and its machine were; `suspect` when timings cannot be
    trusted. The flat figures are the busiest listener process's; `reasons` name the process
    (or the machine) that passed a limit."""

    cpu_percent_mean: float = 0.0
    cpu_percent_max: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    reasons: tuple[str, ...] = ()
    processes: tuple[ProcessLoad, ...] = ()
    machine_cpu_percent_mean: float = 0.0
    machine_cpu_percent_max: float = 0.0
    cores: int = 0
    machine_busy: bool = False

    @property
    def suspect(self) -> bool:
        return bool(self.reasons)

    @property
    def headline(self) -> str:
        """Who was saturated, in a few words: `listener process 2/4 saturated; machine busy`."""
        parts = [f"{p.name} saturated" for p in self.processes if p.suspect]
        if self.machine_busy:
            parts.append("machine busy")
        if not parts and self.suspect:
            parts.append("load generator saturated")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cpu_percent_mean": self.cpu_percent_mean,
            "cpu_percent_max": self.cpu_percent_max,
            "loop_lag_p99_ms": self.loop_lag_p99_ms,
            "loop_lag_max_ms": self.loop_lag_max_ms,
            "suspect": self.suspect,
            "reasons": list(self.reasons),
            "processes": [process.as_dict() for process in self.processes],
            "machine": {
                "cpu_percent_mean": self.machine_cpu_percent_mean,
                "cpu_percent_max": self.machine_cpu_percent_max,
                "cores": self.cores,
                "busy": self.machine_busy,
            },
        }


@dataclass(frozen=True)
class TrafficSummary:
    messages: int = 0
    measured: int = 0
    posts: int = 0
    duplicates: int = 0
    send_errors: int = 0
    rate: float = 0.0


@dataclass(frozen=True)
class Regression:
    """One figure compared with the baseline; `change` is relative (0.25 = 25% worse)."""

    figure: str
    baseline: float
    actual: float
    change: float
    passed: bool


@dataclass
class BenchResult:
    scenario: str
    target: str
    started_at: float
    duration_s: float
    traffic: TrafficSummary
    groups: list[GroupResult]
    saturation: Saturation = field(default_factory=Saturation)
    server: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    thresholds: list[Outcome] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    seed: int | None = None

    @property
    def suspect(self) -> bool:
        return self.saturation.suspect

    @property
    def passed(self) -> bool:
        """Every threshold held, no regression, and every column could connect."""
        return not self.failures()

    @property
    def delivery_ratio(self) -> float:
        expected = sum(group.expected for group in self.groups)
        delivered = sum(group.delivered for group in self.groups)
        return delivered / expected if expected else 1.0

    def figures(self) -> dict[str, float]:
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

    def failures(self) -> list[str]:
        failed = [f"{g.name} could not connect: {g.failure}" for g in self.groups if g.failed]
        failed += [o.message for o in self.thresholds if not o.passed]
        failed += [
            f"{r.figure} regressed {r.change:+.0%} against the baseline "
            f"({r.baseline:.4g} → {r.actual:.4g})"
            for r in self.regressions
            if not r.passed
        ]
        return failed

    def to_dict(self) -> dict[str, Any]:
        started = datetime.datetime.fromtimestamp(self.started_at, datetime.UTC)
        return {
            "schema": SCHEMA,
            "scenario": self.scenario,
            "seed": self.seed,
            "target": self.target,
            "started_at": started.isoformat(),
            "duration_s": self.duration_s,
            "suspect": self.suspect,
            "warnings": self.warnings,
            "traffic": vars(self.traffic),
            "groups": [group.to_dict() for group in self.groups],
            "server": self.server,
            "processes": max(len(self.saturation.processes), 1),
            "saturation": self.saturation.as_dict(),
            "figures": self.figures(),
            "thresholds": [
                {
                    "expression": o.threshold.expression,
                    "figure": o.threshold.figure,
                    "actual": o.actual,
                    "passed": o.passed,
                    "message": o.message,
                }
                for o in self.thresholds
            ],
            "regressions": [vars(r) for r in self.regressions],
            "passed": self.passed,
        }
