"""Latency histograms that merge across processes (HdrHistogram, microsecond resolution)."""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_SIGNIFICANT_FIGURES = 3

PERCENTILES = (50.0, 90.0, 95.0, 99.0)


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of a histogram, in milliseconds."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "mean": self.mean_ms,
            "p50": self.p50_ms,
            "p90": self.p90_ms,
            "p95": self.p95_ms,
            "p99": self.p99_ms,
            "max": self.max_ms,
        }


class LatencyHistogram:
    """Records durations in seconds; summarises and merges like HdrHistogram does."""

    def __init__(self) -> None:
        self._h = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_FIGURES)

    def record(self, seconds: float) -> None:
        micros = min(max(int(round(seconds * 1_000_000)), _LOWEST_US), _HIGHEST_US)
        self._h.record_value(micros)

    def record_micros(self, micros: int, count: int = 1) -> None:
        """Record `count` durations of `micros` microseconds at once."""
        self._h.record_value(min(max(micros, _LOWEST_US), _HIGHEST_US), count)

    @property
    def count(self) -> int:
        return int(self._h.get_total_count())

    def merge(self, other: LatencyHistogram) -> None:
        self._h.add(other._h)

    def encode(self) -> str:
        """A compact base64 text, for shipping a histogram between processes."""
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        hist = cls()
        hist._h = HdrHistogram.decode(text.encode("ascii"))
        return hist

    def percentile_ms(self, percentile: float) -> float:
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return LatencySummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        p50, p90, p95, p99 = (self.percentile_ms(p) for p in PERCENTILES)
        return LatencySummary(
            count=self.count,
            mean_ms=float(self._h.get_mean_value()) / 1000.0,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=float(self._h.get_max_value()) / 1000.0,
        )
