"""Live metrics of bench and listen: scraped from the Prometheus endpoint while the run goes
on, and pushed over OTLP/HTTP to a receiver that decodes them as a collector would."""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tests.helpers import wait_for
from wasim.cli import app
from wasim.observe.figures import BUCKETS_S
from wasim.send.job import SendJob, run_job
from wasim.send.sender import Target
from wasim.stats import LatencyHistogram

SCENARIO = """
name = "metrics"

[backend]
url = "{url}"

[users]
count = 2

[traffic]
rate = 5
duration = "{duration}"
warmup = "0.5s"
drain = "1s"

[[clients]]
kind = "socketio"

[[clients]]
kind = "poll"
list_interval = "0.5s"
detail_interval = "0.3s"
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a scrape by (name, labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(scrape: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, ls), v in scrape.items() if n == name and wanted <= set(ls))


@asynccontextmanager
async def wasim(*args: str) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`wasim ARGS` running, with the metrics address it printed on stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wasim", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        line = await asyncio.wait_for(process.stderr.readline(), 30)
        assert line.startswith(b"metrics: "), line
        yield process, line.decode().split("metrics: ")[1].strip()
    finally:
        if process.returncode is None:  # Ctrl-C: it ends its listener processes itself
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as client:
        return samples((await client.get(url)).text)


async def test_metrics_bench_endpoint_shows_deliveries_while_running(
    backend_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "metrics.toml"
    path.write_text(SCENARIO.format(url=backend_url, duration="20s"))
    seen: list[Samples] = []

    async def delivering() -> bool:
        seen.append(await scrape(url))
        latency = total(seen[-1], "wasim_delivery_latency_seconds_count", kind="socketio")
        return total(seen[-1], "wasim_deliveries_total", kind="socketio") > 0 and latency > 0

    command = ["bench", str(path), "--metrics-port", "0", "--no-progress", "--processes", "2"]
    command += ["--shard", "1/1", "--seed", "7"]
    async with wasim(*command) as (process, url):
        await wait_for(delivering, timeout=60, interval=0.2)
        assert process.returncode is None  # read during the run, not after
    last = seen[-1]
    assert total(last, "wasim_run_phase", phase="sending") == 1
    assert total(last, "wasim_expected_deliveries_total", group="socketio") > 0
    assert total(last, "wasim_client_requests_total", kind="poll") > 0
    assert total(last, "wasim_listeners_connected") == 4
    assert total(last, "wasim_webhooks_sent_total") > 0
    assert {dict(labels).get("shard") for _, labels in last} == {"1/1"}
    assert {dict(ls)["process"] for n, ls in last if n == "wasim_process_cpu_percent"} == {
        "listener process 1/2",
        "listener process 2/2",
    }


@pytest.mark.parametrize("processes", ["1", "2"])
async def test_metrics_listen_endpoint_shows_deliveries_while_listening(
    backend_url: str, tmp_path: Path, processes: str
) -> None:
    ledger = tmp_path / "sent.jsonl"
    command = ["listen", "--url", backend_url, "--transport", "ws", "--per-user", "2"]
    command += ["--processes", processes, "--quiet", "--ledger", str(ledger)]
    command += ["--metrics-port", "0"]
    async with wasim(*command) as (process, url):
        # Both listeners up: what is sent from now on reaches them.
        await wait_for(lambda: connected(url, 2), timeout=30, interval=0.2)
        job = SendJob(Target(url=backend_url), kind="text", count=3, rate="100/s", ledger=ledger)
        await run_job(job)
        seen: list[Samples] = []

        async def delivered() -> bool:  # 3 messages, each held by 2 listeners
            seen.append(await scrape(url))
            latency = total(seen[-1], "wasim_delivery_latency_seconds_count", kind="ws")
            return total(seen[-1], "wasim_deliveries_total", group="listen") == 6 == latency

        await wait_for(delivered, timeout=30, interval=0.2)
        assert total(seen[-1], "wasim_run_phase", phase="listening") == 1
        assert total(seen[-1], "wasim_delivery_latency_seconds_bucket", le="60.0") == 6
        cpu = [labels for name, labels in seen[-1] if name == "wasim_process_cpu_percent"]
        assert len(cpu) == int(processes)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 130


async def connected(url: str, count: int) -> bool:
    return total(await scrape(url), "wasim_listeners_connected") == count


class _Receiver(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector's metrics route: decodes each export request."""

    requests: list[ExportMetricsServiceRequest]

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        type(self).requests.append(request)
        self.send_response(200 if self.path == "/v1/metrics" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[ExportMetricsServiceRequest]]]:
    handler = type("Receiver", (_Receiver,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", handler.requests
    finally:
        server.shutdown()
        server.server_close()


def points(requests: list[ExportMetricsServiceRequest], name: str) -> list[Any]:
    """The data points of metric `name` in every request, in order."""
    found = []
    for request in requests:
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        data = metric.WhichOneof("data")
                        found += list(getattr(metric, data).data_points)
    return found


def test_metrics_otlp_pushes_the_figures_to_a_collector(
    backend_url: str, tmp_path: Path, collector: tuple[str, list[ExportMetricsServiceRequest]]
) -> None:
    endpoint, requests = collector
    path = tmp_path / "metrics.toml"
    path.write_text(SCENARIO.format(url=backend_url, duration="3s"))
    args = ["bench", str(path), "--otlp-endpoint", endpoint, "--otlp-interval", "500ms"]
    result = CliRunner().invoke(app, [*args, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    assert len(requests) >= 3  # pushed while running, and once more at the end
    names = {
        m.name for r in requests for s in r.resource_metrics[0].scope_metrics for m in s.metrics
    }
    assert {"wasim_deliveries", "wasim_delivery_latency_seconds", "wasim_run_phase"} <= names
    deliveries = points(requests[-1:], "wasim_deliveries")
    assert sum(p.as_int or p.as_double for p in deliveries) > 0
    latency = points(requests[-1:], "wasim_delivery_latency_seconds")
    assert sum(p.count for p in latency) > 0
    assert all(len(p.bucket_counts) == len(p.explicit_bounds) + 1 for p in latency)
    service = requests[-1].resource_metrics[0].resource.attributes
    assert {(a.key, a.value.string_value) for a in service} >= {("service.name", "wasim-bench")}


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("command", [["bench", "ci-smoke"], ["listen", "--duration", "1s"]])
@pytest.mark.parametrize("port", ["70000", "busy"])
def test_metrics_bad_port_is_one_line_and_exit_2(
    command: list[str], port: str, busy_port: int
) -> None:
    value = str(busy_port) if port == "busy" else port
    result = CliRunner().invoke(app, [*command, "--metrics-port", value])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert f"--metrics-port {value}" in result.output


def test_metrics_otlp_without_the_sdk_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = "opentelemetry.exporter.otlp.proto.http.metric_exporter"
    monkeypatch.setitem(sys.modules, exporter, None)  # as if the otlp extra were not installed
    args = ["bench", "ci-smoke", "--otlp-endpoint", "http://127.0.0.1:4318"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert (
        result.output.strip() == "error: --otlp-endpoint needs the OpenTelemetry SDK: pip "
        "install 'wasim[otlp]'"
    )


@pytest.mark.parametrize("count", [1, 7, 5000])
def test_latency_histogram_figures_equal_hdrhistograms_own(count: int) -> None:
    rng = random.Random(count)
    histogram = LatencyHistogram()
    for _ in range(count):
        histogram.record(rng.choice([rng.expovariate(20), rng.uniform(0, 70)]))
    hdr = LatencyHistogram.decode(histogram.encode())._h  # a decoded one, as merged ones are
    summary = LatencyHistogram.decode(histogram.encode()).summary()
    assert summary.p99 == hdr.get_value_at_percentile(99.0) / 1000
    assert summary.p50 == hdr.get_value_at_percentile(50.0) / 1000
    assert summary.mean == hdr.get_mean_value() / 1000
    below = [
        sum(s.count_added_in_this_iter_step for s in hdr.get_recorded_iterator()
            if hdr.get_lowest_equivalent_value(s.value_iterated_to) <= bound * 1e6)
        for bound in BUCKETS_S
    ]  # fmt: skip
    assert histogram.cumulative(BUCKETS_S) == below
