"""The HTML report and its PNG: verdict, one CDF of every kind, latency over time with the
fault windows, cost; and the timeline's decimation."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from browser import watch

from wasim.bench import html
from wasim.bench.measure import GroupPart, merge_parts
from wasim.bench.png import write_png
from wasim.bench.results import BenchResult, FaultWindow, GroupResult, TrafficSummary, Verdict
from wasim.bench.timeline import decimate
from wasim.stats import LatencyHistogram


def group(name: str, kind: str, latencies_ms: list[float]) -> GroupResult:
    hist = LatencyHistogram()
    for ms in latencies_ms:
        hist.record(ms / 1000)
    return GroupResult(
        name=name, kind=kind, clients=2, visible_clients=2, users=2, latency=hist.summary(),
        histogram=hist.encode(), expected=len(latencies_ms), delivered=len(latencies_ms),
        missing_count=0, requests=10, bytes=1000, not_modified=0, errors=0, reconnects=0,
        window_s=10.0, timeline=[(i * 0.1, ms) for i, ms in enumerate(latencies_ms)],
    )  # fmt: skip


@pytest.fixture
def result() -> BenchResult:
    rng = random.Random(7)
    return BenchResult(
        scenario="seed",
        target="http://127.0.0.1:1",
        started_at=1_795_900_000.0,
        duration_s=10.0,
        traffic=TrafficSummary(messages=50, measured=50, rate=5.0),
        groups=[
            group("poll", "poll", [rng.uniform(50, 5000) for _ in range(50)]),
            group("socketio", "socketio", [rng.uniform(5, 40) for _ in range(50)]),
        ],
        faults=[FaultWindow(kind="blackhole", start_s=2.0, end_s=4.5, detail="socketio")],
    )


def test_decimate_keeps_at_most_the_limit_and_the_spike() -> None:
    points = [(float(i), 10.0) for i in range(10_000)]
    points[6_543] = (6_543.0, 9_000.0)
    kept = decimate(points, limit=200)
    assert len(kept) <= 200 and (6_543.0, 9_000.0) in kept
    assert kept == sorted(kept)


def test_merge_parts_puts_the_timeline_in_seconds_after_the_window_opened() -> None:
    part = group("sse", "sse", [12.0])
    merged = merge_parts([GroupPart(result=part, points=[(1_000.5, 12.0)])], 10.0, 1_000.0)
    assert merged.timeline == [(0.5, 12.0)]


def test_report_says_pass_with_date_target_and_one_cdf_of_every_kind(result: BenchResult) -> None:
    page = html.document(result)
    assert "PASS: no thresholds set" in page
    assert "2026-11-28 21:06:40 UTC" in page and "http://127.0.0.1:1" in page
    assert page.count('class="curve"') == 2 and page.count('class="points"') == 2
    assert page.count('class="fault"') == 1 and "blackhole" in page


def test_report_banner_names_the_failed_threshold(result: BenchResult) -> None:
    failed = Verdict(
        expression="poll.latency.p95 < 1s", figure="poll.latency.p95", actual=4800.0,
        passed=False, message="poll.latency.p95 < 1s: FAILED (measured 4.80 s)",
    )  # fmt: skip
    result.thresholds = [failed]
    assert 'class="verdict fail">FAIL: 1 check(s) failed<ul><li>poll.latency.p95 < 1s' in (
        html.document(result).replace("&lt;", "<")
    )


def test_png_writes_the_cdf(result: BenchResult, tmp_path: Path) -> None:
    write_png(result, tmp_path / "cdf.png")
    data = (tmp_path / "cdf.png").read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 20_000


def test_report_renders_its_charts_offline_in_chromium(
    browser: Any, result: BenchResult, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_text(html.document(result), encoding="utf-8")
    page = watch(browser.new_page(viewport={"width": 1150, "height": 900}))
    page.page.goto(report.as_uri())
    sizes = page.page.eval_on_selector_all(
        "svg polyline.curve, svg path.points, svg rect.bar",
        "nodes => nodes.map(n => n.getBBox().width * n.getBBox().height)",
    )
    page.shot("bench-report")
    page.page.close()
    assert len(sizes) == 2 + 2 + 4 and all(size > 0 for size in sizes)
    assert all(url.startswith("file://") for url in page.requests)
    assert page.errors == []
