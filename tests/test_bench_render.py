"""The bench's figures and table without a server: polling's expectation, the matrix layout."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from wasim.bench.expectation import Message, expected_wait, polling_expectation
from wasim.bench.render import render_result
from wasim.bench.results import BenchResult, ExpectedLatency, GroupResult, TrafficSummary
from wasim.stats import LatencySummary
from wasim.transports.config import PollConfig


def test_expected_wait_of_the_seed_is_the_first_of_three_pollers() -> None:
    # ∫0^3 (1 - t/5)² (1 - t/3) dt: two list pollers every 5 s, the open chat every 3 s.
    assert expected_wait([3.0], [5.0, 5.0]) == pytest.approx(0.99, abs=1e-9)


def test_expected_wait_of_one_poller_is_half_its_interval() -> None:
    assert expected_wait([3.0], []) == pytest.approx(1.5, abs=1e-9)


def test_expected_wait_when_a_newer_message_hides_it_from_the_list() -> None:
    assert expected_wait([3.0], [5.0, 5.0], gap=0.0) == pytest.approx(1.5, abs=1e-9)
    assert expected_wait([], [5.0], gap=1.0) is None  # only the list could show it


def test_polling_expectation_prints_the_formula_and_averages_the_run() -> None:
    plan = PollConfig()
    messages = [Message(True), Message(True, gap_s=0.0)]
    expected = polling_expectation(plan, messages)
    assert expected.formula == "∫0^3 (1-t/5)^2 (1-t/3) dt"
    assert expected.mean_ms == pytest.approx((990.0 + 1500.0) / 2)
    assert expected.max_ms == pytest.approx(3000.0)


def _group(name: str, kind: str, polled: bool) -> GroupResult:
    latency = LatencySummary(
        count=40, mean=1210.0, p50=1140.0, p90=2500.0, p95=2690.0, p99=2710.0, max=2710.0
    )
    return GroupResult(
        name=name,
        kind=kind,
        clients=10,
        visible_clients=7,
        users=10,
        latency=latency,
        histogram="",
        expected=40,
        delivered=39,
        missing=[],
        missing_count=1,
        requests=26_443,
        bytes=2_500_000,
        not_modified=45,
        errors=0,
        reconnects=0,
        window_s=41.0,
        expected_latency=ExpectedLatency(
            interval_s=3.0,
            mean_ms=990.0,
            max_ms=3000.0,
            pattern="list 2×5 s",
            formula="∫",
            formula_ms=990.0,
        )
        if polled
        else None,
        connect_requests=20,
    )


@pytest.fixture
def result() -> BenchResult:
    kinds = ["poll", "poll-optimized", "socketio", "sse", "ws", "hybrid"]
    groups = [_group(kind, kind, kind.startswith("poll")) for kind in kinds]
    groups.append(_group("socketio-eu", "socketio", False))
    return BenchResult(
        scenario="seed",
        target="http://127.0.0.1:1",
        started_at=0.0,
        duration_s=41.0,
        traffic=TrafficSummary(),
        groups=groups,
    )


@pytest.mark.parametrize("width", [pytest.param(80, id="80"), pytest.param(120, id="120")])
def test_render_never_truncates_and_fits_the_width(result: BenchResult, width: int) -> None:
    out = io.StringIO()
    render_result(Console(file=out, width=width, color_system=None), result)
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    assert all(group.name in text for group in result.groups)
    assert "39/40 (9" in text and "(100%)" not in text  # the share only when one is missing


def test_render_splits_the_groups_over_tables_only_when_narrow(result: BenchResult) -> None:
    def tables_at(width: int) -> int:
        out = io.StringIO()
        render_result(Console(file=out, width=width, color_system=None), result)
        return sum(line.startswith("latency p50") for line in out.getvalue().splitlines())

    assert (tables_at(200), tables_at(80)) == (1, 2)
