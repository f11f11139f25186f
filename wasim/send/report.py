"""What one POST did (`SendResult`) and what a whole run did (`SendReport`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from wasim.stats import LatencyHistogram

# Meta's throughput guidance as 360dialog quotes it (reference §5).
GUIDANCE_MEDIAN_MS = 250.0
GUIDANCE_SLOW_MS = 1000.0
GUIDANCE_SLOW_FRACTION = 0.01


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
    answers: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    errors: int = 0
    retries: int = 0
    duplicates: int = 0
    gave_up: int = 0
    elapsed: float = 0.0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    lag: LatencyHistogram = field(default_factory=LatencyHistogram)
    slow: int = 0
    first_error: str | None = None

    def add(self, result: SendResult) -> None:
        self.sent += 1
        self.retries += result.attempts - 1
        self.duplicates += result.duplicate
        self.lag.record(max(result.started_at - result.scheduled_at, 0.0))
        if result.first_answer_at is not None:
            took = result.first_answer_at - result.scheduled_at
            self.latency.record(took)
            self.slow += took * 1000 > GUIDANCE_SLOW_MS
        if result.status_code is not None:
            self.answers[f"{result.status_code // 100}xx"] += 1
        elif result.error == "timeout":
            self.timeouts += 1
        else:
            self.errors += 1
            self.first_error = self.first_error or result.error
        self.gave_up += not result.ok

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
            "timeouts": self.timeouts,
            "errors": self.errors,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "gave_up": self.gave_up,
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 1),
            "latency_ms": self.latency.summary().as_dict(),
            "over_1s": self.slow,
            "meets_meta_guidance": self.meets_guidance,
            "schedule_lag_ms": self.lag.summary().as_dict(),
        }
