"""What one POST did (`SendResult`) and what a whole run did (`SendReport`)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from wasim.stats import Histogram, LatencyHistogram

# Meta's throughput guidance as 360dialog quotes it (reference §5).
GUIDANCE_MEDIAN_MS = 250.0
GUIDANCE_SLOW_MS = 1000.0
GUIDANCE_SLOW_FRACTION = 0.01
IDS_KEPT = 10  # the ids of the first POSTs, shown by a small send


@dataclass(frozen=True)
class SendResult:
    """One planned POST after its last attempt; times are wall-clock `time.time()` floats."""

    scheduled_at: float
    started_at: float
    finished_at: float
    status_code: int | None
    error: str | None
    attempts: int
    wamids: tuple[str, ...]
    statuses: tuple[tuple[str, str], ...]
    duplicate: bool
    first_answer_at: float | None = None  # when the first attempt was answered

    @property
    def ok(self) -> bool:
        return self.status_code == 200


@dataclass
class SendReport:
    """Counts by answer class, timeouts, retries, duplicates, receiver latency and lag."""

    planned: int = 0
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # by class: 2xx, 4xx …
    codes: Counter[str] = field(default_factory=Counter)  # by status code: 200, 401 …
    timeouts: int = 0
    errors: int = 0
    retries: int = 0
    duplicates: int = 0
    gave_up: int = 0
    elapsed: float = 0.0
    latency: Histogram = field(default_factory=LatencyHistogram)
    lag: Histogram = field(default_factory=LatencyHistogram)
    slow: int = 0
    first_error: str | None = None
    interrupted: bool = False  # cut short (Ctrl-C): the counts are what was sent until then
    ids: list[str] = field(default_factory=list)  # message and status ids of the first POSTs

    def tally(self, status: int | None, error: str | None, attempts: int, duplicate: bool) -> None:
        """Count one planned POST after its last attempt."""
        self.retries += attempts - 1
        self.duplicates += duplicate
        if status is not None:
            return self.tally_answered({status: 1})
        self.sent += 1
        self.gave_up += 1
        if error == "timeout":
            self.timeouts += 1
        else:
            self.errors += 1
            self.first_error = self.first_error or error

    def tally_answered(self, counts: Mapping[int, int]) -> None:
        """Count answered planned POSTs, `counts` of them by status code: `tally` for many at
        once (the sender's POSTs answered at their first attempt, duplicates aside)."""
        for status, count in counts.items():
            self.sent += count
            self.answers[f"{status // 100}xx"] += count
            self.codes[str(status)] += count
            if status != 200:
                self.gave_up += count

    def record_counted(
        self, lags: Mapping[int, int], latencies: Mapping[int, int], slow: int
    ) -> None:
        """Add schedule lags and answer latencies counted by microseconds (see sender's
        `Times`), `slow` of them over a second."""
        for micros, count in lags.items():
            self.lag.record_micros(micros, count)
        for micros, count in latencies.items():
            self.latency.record_micros(micros, count)
        self.slow += slow

    def remember(self, ids: Sequence[str]) -> None:
        """Keep the ids a POST carried (each once), while fewer than IDS_KEPT are kept."""
        for key in ids:
            if len(self.ids) >= IDS_KEPT:
                return
            if key not in self.ids:
                self.ids.append(key)

    def merge(self, other: SendReport) -> None:
        """Add another process's share of the same schedule; elapsed is the longer one."""
        for name in ("planned", "sent", "timeouts", "errors", "retries", "duplicates", "gave_up"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.slow += other.slow
        self.answers.update(other.answers)
        self.codes.update(other.codes)
        self.elapsed = max(self.elapsed, other.elapsed)
        self.latency.merge(other.latency)
        self.lag.merge(other.lag)
        self.first_error = self.first_error or other.first_error
        self.interrupted = self.interrupted or other.interrupted
        self.remember(other.ids)

    def encode(self) -> dict[str, Any]:
        """A JSON-able form for shipping a report between processes."""
        return _wire().dump_python(self, mode="json")  # type: ignore[no-any-return]

    @classmethod
    def decode(cls, data: dict[str, Any]) -> SendReport:
        return _wire().validate_python(data)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def meets_guidance(self) -> bool:
        """Median ≤ 250 ms and under 1% of answers over 1 s."""
        if self.latency.count == 0:
            return False
        median_ok = self.latency.percentile_ms(50.0) <= GUIDANCE_MEDIAN_MS
        return median_ok and self.slow / self.latency.count < GUIDANCE_SLOW_FRACTION

    def as_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "sent": self.sent,
            "answers": dict(sorted(self.answers.items())),
            "codes": dict(sorted(self.codes.items())),
            "timeouts": self.timeouts,
            "errors": self.errors,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "gave_up": self.gave_up,
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 1),
            "latency_ms": self.latency.summary().model_dump(),
            "over_1s": self.slow,
            "meets_meta_guidance": self.meets_guidance,
            "schedule_lag_ms": self.lag.summary().model_dump(),
            "ids": list(self.ids),
            "interrupted": self.interrupted,
        }


@functools.cache
def _wire() -> TypeAdapter[SendReport]:  # built when first used: `wasim send` starts sooner
    return TypeAdapter(SendReport)
