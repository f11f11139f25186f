"""`wasim bench` end to end against real backends: exit codes, reports, baseline, breakage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from junitparser import JUnitXml
from typer.testing import CliRunner

from wasim.bench import Progress, loads, run_bench
from wasim.cli._app import app
from wasim.errors import TargetError
from wasim.server import bind_socket, spawn_backend, url_of

TINY = """
name = "tiny"
thresholds = [{thresholds}]

[backend]
url = "{url}"

[users]
count = 2

[traffic]
rate = 10
duration = "1s"
drain = "1.5s"
{clients}"""

SOCKETIO_SSE_POLL = """
[[clients]]
kind = "socketio"

[[clients]]
kind = "sse"

[[clients]]
kind = "poll"
list_interval = "0.5s"
detail_interval = "0.3s"
"""


def tiny(url: str, *thresholds: str, clients: str = SOCKETIO_SSE_POLL) -> str:
    """Two users, 1 s of traffic at 10/s, against `url`: a bench run of a few seconds."""
    quoted = ", ".join(f'"{t}"' for t in thresholds)
    return TINY.format(url=url, thresholds=quoted, clients=clients)


def bench(tmp_path: Path, text: str, *options: str) -> tuple[int, str]:
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["bench", str(path), "--no-progress", *options])
    return result.exit_code, result.output


def test_bench_passing_thresholds_exit_zero_and_print_the_matrix(
    tmp_path: Path, backend_url: str
) -> None:
    code, output = bench(tmp_path, tiny(backend_url, "socketio.delivery_ratio >= 1"))
    assert code == 0, output
    assert "socketio" in output and "requests/user/hour" in output


def test_bench_impossible_threshold_exits_with_threshold_code(
    tmp_path: Path, backend_url: str
) -> None:
    code, output = bench(tmp_path, tiny(backend_url, "socketio.latency.p50 < 1us"))
    assert code == 1
    assert "socketio.latency.p50 < 1us: FAILED" in output


def test_bench_writes_junit_markdown_html_and_step_summary(
    tmp_path: Path, backend_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    thresholds = ("sse.delivery_ratio >= 1", "poll.latency.p95 < 1us")
    code, _ = bench(
        tmp_path,
        tiny(backend_url, *thresholds),
        *("--junit", str(tmp_path / "b.xml"), "--markdown", str(tmp_path / "b.md")),
        *("--html", str(tmp_path / "b.html"), "--png", str(tmp_path / "b.png")),
    )
    cases = [case for suite in JUnitXml.fromfile(str(tmp_path / "b.xml")) for case in suite]
    assert code == 1
    assert [(case.name, case.is_passed) for case in cases] == [
        ("sse.delivery_ratio >= 1", True),
        ("poll.latency.p95 < 1us", False),
    ]
    assert "| requests/user/hour |" in (tmp_path / "b.md").read_text()
    assert summary.read_text() == (tmp_path / "b.md").read_text()
    assert (tmp_path / "b.html").read_text().count("<svg") == 4
    assert "FAIL: 1 check(s) failed" in (tmp_path / "b.html").read_text()
    assert (tmp_path / "b.png").read_bytes().startswith(b"\x89PNG")


def test_bench_json_output_follows_the_schema(tmp_path: Path, backend_url: str) -> None:
    code, output = bench(tmp_path, tiny(backend_url), "--json")
    document = json.loads(output)
    assert code == 0
    assert document["schema"] == "wasim.bench/1"
    assert [g["name"] for g in document["groups"]] == ["socketio", "sse", "poll"]
    assert document["figures"]["delivery_ratio"] == 1.0


def test_bench_regression_against_a_better_baseline_fails(tmp_path: Path, backend_url: str) -> None:
    baseline = tmp_path / "old.json"
    better = {"socketio.latency.p50": 0.01, "socketio.latency.p95": 0.02}
    baseline.write_text(json.dumps({"schema": "wasim.bench/1", "figures": better}))
    code, output = bench(
        tmp_path, tiny(backend_url), "--baseline", str(baseline), "--max-regression", "20%"
    )
    assert code == 1
    assert "socketio.latency.p50 regressed" in output


def test_bench_malformed_scenario_exits_with_config_code(tmp_path: Path) -> None:
    code, output = bench(tmp_path, tiny("http://127.0.0.1:9").replace("rate = 10", "rate = -1"))
    assert code == 2
    assert "tiny.toml:12: traffic.rate:" in output


def test_bench_unreachable_backend_exits_with_run_broken_code(tmp_path: Path) -> None:
    closed = bind_socket("127.0.0.1", 0)  # a free port that nothing listens on
    url = url_of(closed)
    closed.close()
    code, output = bench(tmp_path, tiny(url))
    assert code == 3
    assert "unreachable" in output


async def test_bench_backend_killed_mid_run_is_a_clear_run_broken_error() -> None:
    backend = spawn_backend()
    text = tiny(backend.url).replace('duration = "1s"', 'duration = "10s"')

    def kill_after_a_few(progress: Progress) -> None:
        if progress.sent >= 5:
            backend.kill()

    try:
        with pytest.raises(TargetError, match="stopped answering mid-run") as caught:
            await run_bench(loads(text), on_progress=kill_after_a_few)
    finally:
        backend.stop()
    assert caught.value.exit_code == 3


NON_DEFAULT = """
name = "renamed"

[backend]
spawn = true
webhook_path = "/hooks/wa"
env = { WASIM_CONVERSATIONS_PATH = "/v2/chats", WASIM_STREAM_PATH = "/v2/events", \
WASIM_SOCKETIO_PATH = "/rt", WASIM_EVENT_NEW_MESSAGE = "wa:message" }

[auth]
claim = "sub"

[[setup]]
path = "/v2/chats"
body = { contact_phone = "{contact.phone}" }
capture = { conversation_id = "id" }

[users]
count = 2

[traffic]
rate = 10
duration = "1s"
drain = "1.5s"

[[clients]]
kind = "socketio"
socketio_path = "/rt"

[[clients]]
kind = "sse"
stream_path = "/v2/events"

[[clients]]
kind = "poll"
conversations_path = "/v2/chats"
list_interval = "0.5s"
detail_interval = "0.3s"
"""


async def test_bench_nondefault_backend_works_by_changing_only_the_scenario() -> None:
    result = await run_bench(loads(NON_DEFAULT))
    assert [(g.name, g.delivered, g.expected) for g in result.groups] == [
        ("socketio", 10, 10),
        ("sse", 10, 10),
        ("poll", 10, 10),
    ]


PUSH_CLIENTS = """
[[clients]]
kind = "socketio"

[[clients]]
kind = "sse"

[[clients]]
kind = "ws"

[[clients]]
kind = "hybrid"

[[clients]]
kind = "hybrid"
name = "hybrid-always"
fallback = "always"
fallback_interval = "0.3s"
"""


async def test_bench_push_clients_pay_for_their_connects_and_frames(backend_url: str) -> None:
    result = await run_bench(loads(tiny(backend_url, clients=PUSH_CLIENTS)))
    groups = {g.name: g for g in result.groups}
    for name in ("socketio", "sse", "ws"):
        group = groups[name]
        assert group.connect_requests == 2, name  # one upgrade or stream GET per user
        assert group.bytes > 0, name
        assert group.requests_per_user_hour >= 1, name


async def test_bench_hybrid_polls_only_while_push_is_down_unless_told_always(
    backend_url: str,
) -> None:
    result = await run_bench(loads(tiny(backend_url, clients=PUSH_CLIENTS)))
    groups = {g.name: g for g in result.groups}
    healthy, always = groups["hybrid"], groups["hybrid-always"]
    assert healthy.delivered == healthy.expected == 10
    assert (healthy.connect_requests, healthy.requests) == (4, 0)  # upgrade + first list load
    assert always.requests > 0
