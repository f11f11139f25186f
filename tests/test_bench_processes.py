"""`wasim bench` over several listener processes: merged figures, per-process saturation."""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml
from typer.testing import CliRunner

from tests.test_bench_run import tiny
from wasim.bench import loads, run_bench
from wasim.bench.measure import GroupPart, merge_parts
from wasim.bench.results import GroupResult, Moments, ProcessLoad
from wasim.bench.saturation import MachineLoad, assess
from wasim.bench.scenario import Load
from wasim.cli._app import app
from wasim.errors import AuthError
from wasim.stats import LatencyHistogram
from wasim.workers import default_processes


def scenario(url: str, load: str = "", seed: int = 1) -> str:
    # The backend is idempotent on message ids: a second run against it needs another seed.
    text = tiny(url).replace("rate = 10", f"rate = 10\nseed = {seed}")
    return f"{text}\n[load]\n{load}\n"


def shape(value: Any) -> Any:
    """The keys of a JSON document, recursively; a list of objects by its first one. (The
    backend's counters are left out: which ones moved depends on the run.)"""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items() if key != "server"}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict) else "list"
    return type(value).__name__


async def test_bench_two_processes_deliver_every_message_and_merge_their_histograms(
    backend_url: str,
) -> None:
    result = await run_bench(loads(scenario(backend_url, "processes = 2")))
    pids = {process.pid for process in result.saturation.processes}
    assert len(pids) == 2 and os.getpid() not in pids
    for group in result.groups:
        merged = LatencyHistogram.decode(group.histogram).count
        assert group.delivered == group.expected == 10, group.name
        assert merged == group.latency.count == sum(p["delivered"] for p in group.per_process)
        assert [p["clients"] for p in group.per_process] == [1, 1], group.name


async def test_bench_results_have_the_same_shape_with_one_or_two_processes(
    backend_url: str,
) -> None:
    one = (await run_bench(loads(scenario(backend_url)), processes=1)).document()
    two = (await run_bench(loads(scenario(backend_url, seed=2)), processes=2)).document()
    assert shape(one) == shape(two)
    assert (one["processes"], two["processes"]) == (1, 2)
    counts = [
        [(g["expected"], g["delivered"], g["clients"]) for g in d["groups"]] for d in (one, two)
    ]
    assert counts[0] == counts[1] == [(10, 10, 2)] * 3


def test_bench_saturated_process_is_named_in_every_output(tmp_path: Path, backend_url: str) -> None:
    path = tmp_path / "spread.toml"
    path.write_text(scenario(backend_url, 'max_loop_lag = "0ms"'))  # any lag at all is too much
    files = {
        flag: tmp_path / f"bench.{flag}" for flag in ("json-file", "junit", "markdown", "html")
    }
    arguments = ["bench", str(path), "--no-progress", "--processes", "2"]
    outcome = CliRunner().invoke(
        app, arguments + [f"--{flag}={file}" for flag, file in files.items()]
    )
    document = json.loads(files["json-file"].read_text())
    junit = " ".join(
        p.value for s in JUnitXml.fromfile(str(files["junit"])) for p in s.properties()
    )
    output = " ".join(outcome.output.split())  # the table's title wraps at the console width
    assert outcome.exit_code == 0, outcome.output
    assert "[SUSPECT: listener process 1/2 saturated; listener process 2/2 saturated" in output
    assert document["suspect"] and document["processes"] == 2
    assert [p["suspect"] for p in document["saturation"]["processes"]] == [True, True]
    for text in (output, files["markdown"].read_text(), files["html"].read_text(), junit):
        assert "listener process 2/2" in text


async def test_bench_failure_in_a_listener_process_is_raised_as_in_one(backend_url: str) -> None:
    refused = '[auth]\ntokens = { user1 = "bad", user2 = "bad" }\n\n[backend]'
    text = "setup = []\n" + scenario(backend_url, "processes = 2").replace("[backend]", refused)
    with pytest.raises(AuthError, match="refused the token"):
        await run_bench(loads(text))


def test_assess_a_busy_machine_marks_the_run_suspect_and_says_why() -> None:
    calm = ProcessLoad(name="listener process 1/1", pid=1, clients=3, loop_lag_p99_ms=0.5)
    machine = MachineLoad(cpu_percent_mean=96.0, cpu_percent_max=100.0, cores=2)
    saturation = assess([calm], machine, Load())
    assert saturation.suspect and saturation.machine.busy
    assert saturation.headline == "machine busy"
    assert "96% of all 2 cores" in saturation.reasons[0]


def test_assess_names_only_the_saturated_process() -> None:
    calm = ProcessLoad(name="listener process 1/2", pid=1, clients=3)
    lagging = ProcessLoad(name="listener process 2/2", pid=2, clients=3, reasons=("lag",))
    machine = MachineLoad(cpu_percent_mean=10.0, cpu_percent_max=20.0, cores=8)
    saturation = assess([calm, lagging], machine, Load())
    assert saturation.headline == "listener process 2/2 saturated"
    assert saturation.reasons == ("listener process 2/2 (pid 2, 3 clients): lag",)


def _part(latencies: list[float], clients: int) -> GroupPart:
    histogram = LatencyHistogram()
    for seconds in latencies:
        histogram.record(seconds)
    count = len(latencies)
    result = GroupResult(
        name="sse",
        kind="sse",
        clients=clients,
        visible_clients=clients,
        users=clients,
        latency=histogram.summary(),
        histogram=histogram.encode(),
        expected=count,
        delivered=count,
        missing=[],
        missing_count=0,
        requests=1,
        bytes=10,
        not_modified=0,
        errors=0,
        reconnects=0,
        window_s=0.0,
        per_user={f"user{n}": {"requests": 1, "bytes": 10} for n in range(clients)},
        client_means=Moments.of(latencies),  # one client per latency, as if each got one
    )
    # As a listener process ships it: through JSON.
    shipped = GroupPart(result=result).model_dump_json()
    return GroupPart.model_validate_json(shipped)


def test_merge_parts_equals_recording_everything_in_one_histogram() -> None:
    first, second = [0.001, 0.002, 0.003], [0.010, 0.020]
    merged = merge_parts([_part(first, 1), _part(second, 2)], window_s=60.0)
    alone = LatencyHistogram()
    for seconds in first + second:
        alone.record(seconds)
    assert merged.latency == alone.summary()
    assert (merged.delivered, merged.clients, merged.requests, merged.users) == (5, 3, 2, 2)
    assert merged.requests_per_minute == pytest.approx(2.0)
    spread = statistics.stdev(first + second) / math.sqrt(5) * 1000
    assert merged.latency_mean_se_ms == pytest.approx(spread)


@pytest.mark.parametrize(
    ("clients", "cores", "processes"),
    [
        pytest.param(60, 8, 1, id="seed"),
        pytest.param(2200, 8, 3, id="per-1000"),
        pytest.param(10_000, 4, 4, id="capped-by-cores"),
    ],
)
def test_default_processes_follow_the_client_count(
    clients: int, cores: int, processes: int
) -> None:
    assert default_processes(clients, cores) == processes
