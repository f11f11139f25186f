"""Latency histograms that merge across processes (HdrHistogram, microsecond resolution)."""

from __future__ import annotations

from typing import Annotated, Any

from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000  # one hour
_SIGNIFICANT_FIGURES = 3

PERCENTILES = (50.0, 90.0, 95.0, 99.0)


class LatencySummary(BaseModel):
    """Percentiles of a histogram, in milliseconds."""

    model_config = ConfigDict(frozen=True)

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0


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
        """A compact base64 text, for shipping a histogram between processes ('' when empty)."""
        if not self.count:
            return ""
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, *texts: str) -> LatencyHistogram:
        """One histogram of the `encode()`d ones, merged."""
        hist = cls()
        for text in texts:
            if text:
                hist._h.add(HdrHistogram.decode(text.encode("ascii")))
        return hist

    def percentile_ms(self, percentile: float) -> float:
        return float(self._h.get_value_at_percentile(percentile)) / 1000.0

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return LatencySummary()
        p50, p90, p95, p99 = (self.percentile_ms(p) for p in PERCENTILES)
        return LatencySummary(
            count=self.count,
            mean=float(self._h.get_mean_value()) / 1000.0,
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            max=float(self._h.get_max_value()) / 1000.0,
        )


def _as_histogram(value: Any) -> LatencyHistogram:
    if isinstance(value, LatencyHistogram):
        return value
    if isinstance(value, str):
        return LatencyHistogram.decode(value)
    raise ValueError("expected an encoded HdrHistogram (base64 text)")


# A histogram as a pydantic field: base64 text in JSON, mergeable across processes.
Histogram = Annotated[
    LatencyHistogram,
    PlainValidator(_as_histogram),
    PlainSerializer(LatencyHistogram.encode, return_type=str),
    WithJsonSchema({"type": "string", "description": "HdrHistogram, base64; mergeable"}),
]
