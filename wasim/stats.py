"""Latency histograms that merge across processes (HdrHistogram, microsecond resolution)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
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
        """A compact base64 text, for shipping a histogram between processes."""
        encoded = self._h.encode()
        return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)

    @classmethod
    def decode(cls, text: str) -> LatencyHistogram:
        hist = cls()
        hist._h = HdrHistogram.decode(text.encode("ascii"))
        return hist

    def cumulative(self, bounds_s: Sequence[float]) -> list[int]:
        """How many durations are at most each bound (seconds, ascending), to the histogram's
        resolution (0.1%): a Prometheus or OpenTelemetry histogram's buckets."""
        bounds_us = [bound * 1_000_000 for bound in bounds_s]
        per_bucket = [0] * (len(bounds_us) + 1)  # the last: above every bound
        for step in self._h.get_recorded_iterator():
            lowest = self._h.get_lowest_equivalent_value(step.value_iterated_to)
            per_bucket[bisect.bisect_left(bounds_us, lowest)] += step.count_added_in_this_iter_step
        return list(itertools.accumulate(per_bucket))[: len(bounds_us)]

    @property
    def total_s(self) -> float:
        """The sum of the recorded durations, in seconds (count × mean)."""
        return self.count * float(self._h.get_mean_value()) / 1_000_000 if self.count else 0.0

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
        return LatencyHistogram.decode(value) if value else LatencyHistogram()
    raise ValueError("expected an encoded HdrHistogram (base64 text)")


# A histogram as a pydantic field: base64 text in JSON, mergeable across processes.
Histogram = Annotated[
    LatencyHistogram,
    PlainValidator(_as_histogram),
    PlainSerializer(lambda h: h.encode() if h.count else "", return_type=str),
    WithJsonSchema({"type": "string", "description": "HdrHistogram, base64; mergeable"}),
]
