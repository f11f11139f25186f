"""The figures pushed over OTLP/HTTP to an OpenTelemetry collector, every few seconds.

The OpenTelemetry SDK's exporter sends them (protobuf over HTTP, its retries and timeouts).
The figures come already aggregated (counts summed and HdrHistograms merged over the listener
processes), so they are handed to it as the SDK's own data points with cumulative temporality
rather than recorded again one delivery at a time through an instrument: the SDK has no
instrument that takes a histogram's buckets, and re-recording would cost the runner a call
per delivery. The SDK is the `otlp` extra: `pip install 'wasim[otlp]'`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from wasim.errors import ConfigError
from wasim.observe.figures import BUCKETS_S, Buckets, Figure

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import MetricsData

NEEDS = "--otlp-endpoint needs the OpenTelemetry SDK: pip install 'wasim[otlp]'"
METRICS_PATH = "/v1/metrics"


def metrics_url(endpoint: str) -> str:
    """The collector's OTLP/HTTP metrics URL: `endpoint` is its base (http://host:4318) or
    already ends in /v1/metrics."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"--otlp-endpoint {endpoint}: give an http:// or https:// URL")
    base = endpoint.rstrip("/")
    return base if base.endswith(METRICS_PATH) else base + METRICS_PATH


def metrics_data(
    figures: list[Figure], started_ns: int, resource: Mapping[str, str]
) -> MetricsData:
    """The figures as the SDK's data model (cumulative since `started_ns`)."""
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Histogram,
        HistogramDataPoint,
        Metric,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    now = time.time_ns()
    cumulative = AggregationTemporality.CUMULATIVE
    metrics = []
    for figure in figures:
        data: Any
        if figure.kind == "histogram":
            points: list[Any] = []
            for labels, value in figure.points:
                assert isinstance(value, Buckets)
                counts = [*value.cumulative, value.count]
                per_bucket = [b - a for a, b in itertools.pairwise([0, *counts])]
                points.append(
                    HistogramDataPoint(
                        dict(labels),
                        started_ns,
                        now,
                        value.count,
                        value.sum,
                        per_bucket,
                        list(BUCKETS_S),
                        value.min,
                        value.max,
                    )  # fmt: skip
                )
            data = Histogram(points, cumulative)
        else:
            numbers = [
                NumberDataPoint(dict(labels), started_ns, now, value)
                for labels, value in figure.points
                if not isinstance(value, Buckets)
            ]
            counter = figure.kind == "counter"
            data = Sum(numbers, cumulative, True) if counter else Gauge(numbers)
        metrics.append(Metric(figure.name, figure.help, figure.unit, data))
    scope = ScopeMetrics(InstrumentationScope("wasim"), metrics, "")
    return MetricsData([ResourceMetrics(Resource.create(dict(resource)), [scope], "")])


class Pusher:
    """Exports `read()` to `endpoint` every `interval` seconds in a thread, and once more at
    `close()`; `failed` counts exports the collector did not take."""

    def __init__(
        self,
        endpoint: str,
        interval: float,
        read: Callable[[], list[Figure]],
        resource: Mapping[str, str],
    ) -> None:
        if interval <= 0:
            raise ConfigError("--otlp-interval must be positive")
        url = metrics_url(endpoint)
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
        except ImportError:
            raise ConfigError(NEEDS) from None
        self.url = url
        self.interval = interval
        self.read = read
        self.resource = dict(resource)
        self.exporter = OTLPMetricExporter(endpoint=url, timeout=max(min(interval, 10.0), 1.0))
        self.started_ns = time.time_ns()
        self.exports = self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wasim-otlp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def push(self) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = metrics_data(self.read(), self.started_ns, self.resource)
        self.exports += 1
        if self.exporter.export(data) is not MetricExportResult.SUCCESS:
            self.failed += 1

    def close(self) -> None:
        """Stop the thread and push the last figures."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.push()
        self.exporter.shutdown()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()
