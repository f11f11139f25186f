"""The figures on a Prometheus endpoint, served by prometheus-client in a thread of its own.

The figures are already aggregated (counts summed, HdrHistograms merged over the listener
processes once a second), so they reach prometheus-client the way it documents for figures
kept elsewhere: a custom collector in a registry of the run's own (not the process-wide
default, nor the bundled backend's), read on each scrape.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Iterable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from wasim.errors import ConfigError
from wasim.observe.figures import BUCKETS_S, Buckets, Figure


def family(figure: Figure) -> Metric:
    """One figure as prometheus-client's metric family (a counter gains `_total`)."""
    names = [name for name, _ in figure.points[0][0]] if figure.points else []
    metric: CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily
    if figure.kind == "counter":
        metric = CounterMetricFamily(figure.name, figure.help, labels=names)
    elif figure.kind == "gauge":
        metric = GaugeMetricFamily(figure.name, figure.help, labels=names)
    else:
        metric = HistogramMetricFamily(figure.name, figure.help, labels=names)
    for labels, value in figure.points:
        values = [v for _, v in labels]
        if isinstance(value, Buckets):
            assert isinstance(metric, HistogramMetricFamily)
            pairs = zip(BUCKETS_S, value.cumulative, strict=True)
            bounds = [(str(float(bound)), float(n)) for bound, n in pairs]  # le="0.5", "60.0"
            metric.add_metric(values, [*bounds, ("+Inf", float(value.count))], value.sum)
        else:
            assert not isinstance(metric, HistogramMetricFamily)
            metric.add_metric(values, value)
    return metric


class FiguresCollector(Collector):
    """Hands prometheus-client the latest figures; `show` replaces them (from any thread)."""

    def __init__(self) -> None:
        self.figures: tuple[Figure, ...] = ()

    def show(self, figures: Iterable[Figure]) -> None:
        self.figures = tuple(figures)

    def collect(self) -> Iterator[Metric]:
        for figure in self.figures:
            yield family(figure)


class Endpoint:
    """`/metrics` on `host:port` (0: a free port) until `close()`."""

    def __init__(self, collector: FiguresCollector, host: str, port: int) -> None:
        if not 0 <= port <= 65535:
            raise ConfigError(f"--metrics-port {port}: a port is 0 to 65535 (0: a free one)")
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        try:
            started = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise ConfigError(f"--metrics-port {port} on {host}: {why}") from None
        self.server: WSGIServer = started[0]
        self.thread: threading.Thread = started[1]
        shown = f"[{host}]" if ":" in host else host or "0.0.0.0"
        self.url = f"http://{shown}:{self.server.server_port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5.0)
