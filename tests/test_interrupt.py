"""Ctrl-C as a terminal sends it (SIGINT to the whole process group, children included): every
long command ends with what it measured so far, exit code 130, and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import wait_for
from prometheus_client.parser import text_string_to_metric_families

from wasim import defaults
from wasim.server import READY_PREFIX

BENCH = """
name = "long"

[backend]
url = "{url}"

[users]
count = 2

[traffic]
rate = 5
duration = "60s"
warmup = "0s"

[[clients]]
kind = "socketio"

[[clients]]
kind = "sse"
"""


def start(*args: str) -> subprocess.Popen[str]:
    """`wasim ARGS` in a process group of its own, like a command run from a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "wasim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def ctrl_c(proc: subprocess.Popen[str], timeout: float = 90) -> tuple[str, str]:
    """SIGINT to the whole group, as a terminal's Ctrl-C; then its output."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert "Traceback" not in err, err
    assert "never retrieved" not in err, err
    return out, err


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def webhooks_received(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "wasim_webhooks"
        for sample in family.samples
        if sample.name == "wasim_webhooks_total"
    )


@pytest.mark.parametrize("processes", ["1", "2"])
async def test_interrupt_send_prints_the_report_of_what_was_sent(
    backend_url: str, tmp_path: Path, processes: str
) -> None:
    ledger = tmp_path / "sent.jsonl"
    proc = start(
        "send", "--url", backend_url, "--rate", "20/s", "--duration", "60s",
        "--processes", processes, "--ledger", str(ledger), "--json",
    )  # fmt: skip
    await wait_for(lambda: lines(ledger) >= 10, timeout=60)  # started; some answered
    out, _ = ctrl_c(proc)
    assert proc.returncode == 130
    report = json.loads(out)
    assert report["interrupted"] is True
    assert report["planned"] == 1200
    assert 1 <= report["sent"] < 1200  # the POSTs answered before Ctrl-C
    assert report["answers"]["2xx"] == report["sent"]


async def test_interrupt_send_table_says_interrupted(backend_url: str, tmp_path: Path) -> None:
    ledger = tmp_path / "sent.jsonl"
    proc = start("send", "--url", backend_url, "--rate", "20/s", "--duration", "60s",
                 "--ledger", str(ledger))  # fmt: skip
    await wait_for(lambda: lines(ledger) >= 1, timeout=60)
    out, _ = ctrl_c(proc)
    assert proc.returncode == 130
    assert "wasim send →" in out and "(interrupted)" in out
    assert "of 1200 planned" in out


@pytest.mark.parametrize("processes", ["1", "2"])
async def test_interrupt_bench_says_how_far_it_got(
    backend_url: str, tmp_path: Path, processes: str
) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(BENCH.format(url=backend_url))
    proc = start("bench", str(scenario), "--processes", processes)
    await wait_for(lambda: webhooks_received(backend_url) >= 2, timeout=90)
    out, err = ctrl_c(proc)
    assert proc.returncode == 130
    assert out == ""
    assert err.startswith("wasim bench: interrupted while sending after"), err
    assert "of 300 POSTs sent" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("processes", ["1", "2"])
def test_interrupt_listen_prints_the_summary(backend_url: str, processes: str) -> None:
    proc = start("listen", "--url", backend_url, "--users", "4", "--processes", processes,
                 "--jwt-secret", defaults.JWT_SECRET, "--json")  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # until every listener is connected
        if json.loads(line)["type"] == "ready":
            break
    out, _ = ctrl_c(proc)
    assert proc.returncode == 130
    summary = json.loads(out.splitlines()[-1])
    assert summary["type"] == "summary"
    assert summary["connected"] == 4


def test_interrupt_serve_shuts_down_quietly(tmp_path: Path) -> None:
    proc = start("serve", "--port", "0", "--quiet",
                 "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # until it listens
        if line.startswith(READY_PREFIX):
            break
    _, err = ctrl_c(proc)
    assert proc.returncode == 130
    assert err.strip() == "interrupted"
