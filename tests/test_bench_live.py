"""`wasim bench --live`: the figures so far each second, in one or several listener processes,
and the dashboard page in Chromium."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from browser import watch

from wasim.bench import loads, run_bench
from wasim.bench.live import LiveSnapshot

SCENARIO = """
name = "live"

[backend]
url = "{url}"

[users]
count = 2

[traffic]
rate = 5
duration = "{duration}"
warmup = "0.5s"
drain = "1.5s"

[[clients]]
kind = "socketio"

[[clients]]
kind = "poll"
list_interval = "0.5s"
detail_interval = "0.3s"
"""


@pytest.mark.parametrize("processes", [1, 2])
async def test_live_readings_grow_each_second_and_end_at_the_results(
    backend_url: str, processes: int
) -> None:
    readings: list[LiveSnapshot] = []
    scenario = loads(SCENARIO.format(url=backend_url, duration="4s"))
    result = await run_bench(scenario, processes=processes, on_live=readings.append)
    socketio = [r.groups[0] for r in readings]
    assert len(readings) >= 3
    assert [g.delivered for g in socketio] == sorted(g.delivered for g in socketio)
    assert socketio[-1].delivered == result.groups[0].delivered > 0
    assert {len(r.processes) for r in readings[1:]} == {processes}


def test_live_dashboard_updates_in_chromium_and_shows_the_final_figures(
    browser: Any, backend_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "live.toml"
    path.write_text(SCENARIO.format(url=backend_url, duration="8s"))
    report = tmp_path / "live.json"
    command = [sys.executable, "-m", "wasim", "bench", str(path), "--live", "--no-progress"]
    command += ["--json-file", str(report)]
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert bench.stderr is not None
        address = bench.stderr.readline().split("live dashboard: ")[1].strip()
        page = watch(browser.new_page(viewport={"width": 1150, "height": 800}))
        page.page.goto(address)
        page.page.wait_for_selector("body[data-phase='sending']", timeout=30_000)
        first = page.page.inner_text("#groups tbody")
        page.page.wait_for_function(
            "first => document.querySelector('#groups tbody').innerText !== first", arg=first
        )
        page.page.wait_for_selector("#banner.pass, #banner.fail", timeout=60_000)
        final = page.page.inner_text("#groups tbody")
        page.shot("bench-live")
        out, _ = bench.communicate(timeout=60)
    finally:
        bench.kill()
    assert bench.returncode == 0, out
    groups = json.loads(report.read_text())["groups"]
    assert [line.split("\t")[2] for line in final.splitlines()] == [
        f"{g['delivered']} / {g['expected']}" for g in groups
    ]
    assert page.errors == []
