"""Scenario files, thresholds and baselines: the parts of `wasim bench` that need no server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wasim.bench import load, loads
from wasim.bench.baseline import compare, load_baseline
from wasim.bench.loader import apply_overrides
from wasim.bench.measure import plan_traffic
from wasim.bench.runner import run_seed
from wasim.bench.thresholds import evaluate, parse_threshold
from wasim.cli._app import app
from wasim.errors import ConfigError

VALID = """
name = "tiny"

[traffic]
rate = 5
duration = "2s"

[[clients]]
kind = "socketio"
"""


@pytest.mark.parametrize("name", ["seed", "ci-smoke", "faults"])
def test_load_bundled_scenario_by_name(name: str) -> None:
    scenario = load(name)
    assert scenario.name == name
    assert scenario.backend.spawn


def test_loads_wrong_value_names_line_and_field() -> None:
    text = VALID.replace("rate = 5", 'rate = "fast"')
    with pytest.raises(ConfigError, match=r"<scenario>:5: traffic\.rate: "):
        loads(text)


def test_loads_unknown_key_in_second_client_group_names_its_line() -> None:
    text = VALID + '\n[[clients]]\nkind = "sse"\nintervall = 3\n'
    with pytest.raises(ConfigError, match=r":13: clients\[1\]\.intervall: unknown key"):
        loads(text)


def test_loads_unknown_client_kind_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r":9: clients\[0\]\.kind: "):
        loads(VALID.replace('"socketio"', '"carrier-pigeon"'))


def test_loads_broken_toml_names_line() -> None:
    with pytest.raises(ConfigError, match=r"<scenario>:5: not valid TOML"):
        loads(VALID.replace("rate = 5", "rate = = 5"))


def test_loads_bad_threshold_names_its_line() -> None:
    text = 'thresholds = [\n  "socketio.latency.p95 <",\n]\n' + VALID
    with pytest.raises(ConfigError, match=r":2: thresholds\[0\]: cannot read threshold"):
        loads(text)


def test_load_missing_scenario_lists_bundled_names() -> None:
    with pytest.raises(ConfigError, match="bundled: ci-smoke, faults, seed"):
        load("no-such-scenario")


@pytest.mark.parametrize(
    ("expression", "figure", "limit"),
    [
        pytest.param("socketio.latency.p95 < 100ms", "socketio.latency.p95", 100.0, id="ms"),
        pytest.param("poll.latency.mean <= 2s", "poll.latency.mean", 2000.0, id="s"),
        pytest.param("delivery_ratio >= 99%", "delivery_ratio", 0.99, id="percent"),
        pytest.param(
            "poll.requests_per_user_hour < 3000", "poll.requests_per_user_hour", 3000.0, id="plain"
        ),
    ],
)
def test_parse_threshold_converts_units(expression: str, figure: str, limit: float) -> None:
    threshold = parse_threshold(expression)
    assert (threshold.figure, threshold.limit) == (figure, limit)


def test_parse_threshold_rejects_duration_on_a_count() -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_threshold("poll.requests_per_user_hour < 3s")


def test_evaluate_unknown_figure_fails_the_threshold() -> None:
    outcome = evaluate(parse_threshold("carrier.latency.p95 < 1ms"), {"sse.latency.p95": 3.0})
    assert not outcome.passed
    assert "no figure carrier.latency.p95" in outcome.message


def test_compare_flags_latency_regression_beyond_allowance() -> None:
    regressions = compare({"sse.latency.p95": 10.0}, {"sse.latency.p95": 20.0}, 0.2)
    assert [(r.figure, r.passed) for r in regressions] == [("sse.latency.p95", False)]


def test_compare_ignores_noise_below_the_floor() -> None:
    regressions = compare({"sse.latency.p50": 0.5}, {"sse.latency.p50": 1.2}, 0.2)
    assert all(r.passed for r in regressions)


def test_load_baseline_rejects_foreign_json(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ConfigError, match="not a wasim bench result"):
        load_baseline(path)


def test_loads_unknown_key_suggests_the_key_meant_and_lists_the_valid_ones() -> None:
    text = VALID.replace('kind = "socketio"', 'kind = "sse"\nstream_pth = "/events"')
    with pytest.raises(ConfigError) as caught:
        loads(text, source="scenario.toml")
    message = str(caught.value)
    assert message.startswith("scenario.toml:10: clients[0].stream_pth: unknown key; ")
    assert "did you mean stream_path? (valid keys of [[clients]]: kind, name, per_user," in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('nme = "x"\n' + VALID, "(valid top-level keys: name, description,", id="top"),
        pytest.param(
            VALID + '[auth.login]\npath = "/login"\ntokn = "jwt"\n',
            "auth.login.tokn: unknown key; did you mean token? (valid keys of [auth.login]:",
            id="nested",
        ),
        pytest.param(
            VALID + "[backend]\nspawn = true\nzzz = 1\n",
            "backend.zzz: unknown key (valid keys of [backend]: url, spawn,",
            id="nothing-close",
        ),
    ],
)
def test_loads_unknown_key_names_its_table(text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        loads(text)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        pytest.param({"url": "http://h:1"}, {"url": "http://h:1", "spawn": False}, id="url"),
        pytest.param({"duration": 90.0}, {"duration": 90.0}, id="duration"),
        pytest.param({"duration": "2m"}, {"duration": 120.0}, id="duration-text"),
        pytest.param({"rate": 40.0}, {"rate": 40.0}, id="rate"),
        pytest.param({"users": 3}, {"users": ["user1", "user2", "user3"]}, id="users"),
        pytest.param({"seed": 7}, {"seed": 7}, id="seed"),
    ],
)
def test_apply_overrides_changes_the_scenario(
    override: dict[str, Any], expected: dict[str, Any]
) -> None:
    scenario = apply_overrides(load("seed"), **override)
    backend, traffic = scenario.backend, scenario.traffic
    actual = {
        "url": backend.url,
        "spawn": backend.spawn,
        "duration": traffic.duration,
        "rate": traffic.rate,
        "users": scenario.users.user_names(),
        "seed": traffic.seed,
    }
    assert {key: actual[key] for key in expected} == expected


def test_apply_overrides_duration_replaces_a_message_count() -> None:
    counted = loads(VALID.replace('duration = "2s"', "count = 50"))
    scenario = apply_overrides(counted, duration=3.0)
    assert (scenario.traffic.count, scenario.traffic.duration) == (None, 3.0)


def test_apply_overrides_users_replaces_the_names() -> None:
    named = loads(VALID + "[users]\nnames = ['ana', 'bo']\n")
    assert apply_overrides(named, users=1).users.user_names() == ["user1"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(["--rate", "-1"], "--rate: Input should be greater than 0", id="rate"),
        pytest.param(["--duration", "nonsense"], "--duration 'nonsense' is not a", id="dur"),
        pytest.param(
            ["--users", "0"], "--users: Input should be greater than or equal", id="users"
        ),
    ],
)
def test_bench_bad_override_is_one_line_and_exit_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    path = tmp_path / "nowhere.toml"
    path.write_text(VALID + '[backend]\nurl = "http://127.0.0.1:9"\n')
    result = CliRunner().invoke(app, ["bench", str(path), "--no-progress", *options])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {message}")
    assert len(result.output.strip().splitlines()) == 1


def test_bench_unknown_key_names_its_table_on_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text(VALID + '[backend]\nspawn = true\nurll = "http://127.0.0.1:9"\n')
    result = CliRunner().invoke(app, ["bench", str(path), "--no-progress"])
    assert result.exit_code == 2
    assert "did you mean url? (valid keys of [backend]: url, spawn," in result.output


def wamids_of_run(text: str, seed: int) -> list[str]:
    return [w for p in plan_traffic(loads(text), ["5215500000001"], seed) for w in p.senders]


def test_bench_seed_is_fresh_each_run_unless_the_scenario_gives_one() -> None:
    fresh, given = loads(VALID), loads(VALID.replace("rate = 5", "rate = 5\nseed = 7"))
    assert len({run_seed(fresh) for _ in range(5)}) == 5
    assert {run_seed(given) for _ in range(5)} == {7}


def test_bench_same_seed_sends_the_same_ids_and_markers() -> None:
    first, again, other = (wamids_of_run(VALID, seed) for seed in (7, 7, 8))
    assert first == again and not set(first) & set(other)
    marked = plan_traffic(loads(VALID), ["5215500000001"], 7)
    assert all(p.markers.keys() == p.senders.keys() for p in marked)
