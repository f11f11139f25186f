"""Scenario files, thresholds and baselines: the parts of `wasim bench` that need no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasim.bench import load, loads
from wasim.bench.baseline import compare, load_baseline
from wasim.bench.thresholds import evaluate, parse_threshold
from wasim.errors import ConfigError

VALID = """
name = "tiny"

[traffic]
rate = 5
duration = "2s"

[[clients]]
kind = "socketio"
"""


@pytest.mark.parametrize("name", ["seed", "ci-smoke"])
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
    with pytest.raises(ConfigError, match=r":13: clients\[1\]\.intervall: Extra inputs"):
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
    with pytest.raises(ConfigError, match="bundled: ci-smoke, seed"):
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
