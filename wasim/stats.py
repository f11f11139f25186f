"""Latency histograms that merge across processes (HdrHistogram, microsecond resolution)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Sequence
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

    def _running(self) -> list[int]:
        """The running total of the counts array, index by index.

        hdrh walks that array (23,552 entries) in Python for every percentile and the mean,
        ~10 ms each; read once into a list and summed in C, the same figures take ~2 ms,
        which matters to the live figures merged once a second (`--live`, `--metrics-port`).
        """
        h = self._h
        filled = min(h.counts_len, h.encoder.payload.counts_len)  # a decoded one may be short
        return list(itertools.accumulate(h.counts[:filled]))

    def _at(self, running: list[int], percentile: float) -> int:
        """`HdrHistogram.get_value_at_percentile`, from the running totals."""
        h = self._h
        index = bisect.bisect_left(running, h.get_target_count_at_percentile(percentile))
        if index >= len(running):
            return 0
        value = h.get_value_from_index(index)
        if percentile:
            return int(h.get_highest_equivalent_value(value))
        return int(h.get_lowest_equivalent_value(value))

    def _mean_us(self, running: list[int]) -> float:
        """`HdrHistogram.get_mean_value`: each count at the middle of its value range."""
        h = self._h
        total = previous = 0
        for index in self._filled(running):
            value = h.get_value_from_index(index)
            lowest = h.get_lowest_equivalent_value(value)
            middle = lowest + ((h.get_highest_equivalent_value(value) + 1 - lowest) >> 1)
            total += (running[index] - previous) * middle
            previous = running[index]
        return float(total) / h.get_total_count() if h.get_total_count() else 0.0

    @staticmethod
    def _filled(running: list[int]) -> Iterator[int]:
        """The indexes whose count is not zero (where the running total steps up)."""
        index, end = 0, len(running)
        while index < end:
            # the first index past the current total: C-speed skipping of empty runs
            index = bisect.bisect_right(running, running[index - 1] if index else 0, index)
            if index < end:
                yield index
                index += 1

    def cumulative(self, bounds_s: Sequence[float]) -> list[int]:
        """How many durations are at most each bound (seconds, ascending), to the histogram's
        resolution (0.1%): a Prometheus or OpenTelemetry histogram's buckets."""
        running = self._running()
        counts = []
        for bound in bounds_s:
            index = self._h.get_counts_array_index(min(int(bound * 1_000_000), _HIGHEST_US))
            counts.append(running[min(index, len(running) - 1)] if running else 0)
        return counts

    def percentile_ms(self, percentile: float) -> float:
        return float(self._at(self._running(), percentile)) / 1000.0

    @property
    def max_s(self) -> float:
        return float(self._h.get_max_value()) / 1_000_000

    @property
    def min_s(self) -> float:
        return float(self._h.get_min_value()) / 1_000_000 if self.count else 0.0

    def summary(self) -> LatencySummary:
        if self.count == 0:
            return LatencySummary()
        running = self._running()
        p50, p90, p95, p99 = (self._at(running, p) / 1000.0 for p in PERCENTILES)
        return LatencySummary(
            count=self.count,
            mean=self._mean_us(running) / 1000.0,
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
