"""A sharded bench (`wasim bench --shard I/N`) and its merge (`wasim report merge`).

Three shards run as three `wasim bench` processes against one backend; their merge is compared
with the shards, with histograms merged here by hand, and with one unsharded run of the same
scenario and seed (against a second, fresh backend: the backend drops message ids it has seen).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from hdrh.histogram import HdrHistogram
from typer.testing import CliRunner

from mock_backend import Settings, create_app
from wasim.bench import BenchResult, loads, run_bench
from wasim.bench.clients import build_clients
from wasim.bench.measure import plan_traffic
from wasim.bench.merge import load_shards, merge_results
from wasim.bench.prepare import contacts_for
from wasim.bench.shard import Shard, scenario_hash
from wasim.cli._app import app
from wasim.server import ServerThread

SCENARIO = """
name = "shards"
thresholds = ["socketio.delivered >= 10", "poll.delivery_ratio >= 1"]

[backend]
url = "http://127.0.0.1:1"

[users]
count = 6

[traffic]
rate = 10
duration = "1s"
drain = "3s"
seed = 4242

[[clients]]
kind = "socketio"

[[clients]]
kind = "poll"
list_interval = "0.3s"
detail_interval = "0.2s"
hidden_share = 0.2
"""
TIMEOUT = 120.0


def backend(folder: Path) -> ServerThread:
    return ServerThread(create_app(Settings(database_url=f"sqlite+aiosqlite:///{folder}/b.db")))


@pytest.fixture(scope="module")
def shard_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """The three shards' JSON results, each run as its own `wasim bench` process."""
    folder = tmp_path_factory.mktemp("shards")
    scenario = folder / "shards.toml"
    scenario.write_text(SCENARIO)
    files = [folder / f"shard-{index}.json" for index in (1, 2, 3)]
    with backend(folder) as server:
        runs = []
        for index, path in enumerate(files, start=1):
            command = [sys.executable, "-m", "wasim", "bench", str(scenario), "--url", server.url]
            command += ["--json-file", str(path), "--no-progress"]
            env = {**os.environ, "COLUMNS": "200"}
            if index == 3:
                env["WASIM_SHARD"] = "3/3"  # the environment as a Kubernetes pod would set it
            else:
                command += ["--shard", f"{index}/3"]
            out = subprocess.PIPE
            runs.append(subprocess.Popen(command, env=env, stdout=out, stderr=out, text=True))
        try:
            outputs = ["".join(run.communicate(timeout=TIMEOUT)) for run in runs]
        finally:
            for run in runs:
                run.kill()
                run.wait()
        for run, output, path in zip(runs, outputs, files, strict=True):
            assert run.returncode == 0, output
            path.with_suffix(".txt").write_text(output)
    yield files


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchResult]:
    """The same scenario and seed run unsharded, against a fresh backend of its own."""
    import asyncio

    folder = tmp_path_factory.mktemp("whole")
    with backend(folder) as server:
        scenario = loads(SCENARIO.replace("http://127.0.0.1:1", server.url))
        yield asyncio.run(run_bench(scenario))


def merge(*arguments: object) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["report", "merge", *map(str, arguments)])
    return result.exit_code, result.output


def edited(path: Path, folder: Path, **shard: Any) -> Path:
    """A copy of a shard's result with its `shard` block changed."""
    document = json.loads(path.read_text())
    document["shard"].update(shard)
    copy = folder / f"edited-{path.name}"
    copy.write_text(json.dumps(document))
    return copy


def timeless(body: bytes) -> bytes:
    """A webhook body without its timestamps (the wall clock when the plan was built)."""
    return re.sub(rb'"timestamp":"\d+"', b"", body)


def counts(result: BenchResult) -> list[tuple[str, int, int, int]]:
    return [(g.name, g.expected, g.delivered, g.clients) for g in result.groups]


def test_shard_plans_together_are_the_whole_plan() -> None:
    batched = SCENARIO.replace('"1s"', '"10s"').replace("rate = 10", "rate = 10\nbatch = 2")
    scenario = loads(batched.replace("seed", "duplicates = 0.3\nseed"))
    everyone = scenario.users.user_names()
    contacts = contacts_for(scenario, everyone)
    phones = [c.phone for cs in contacts.values() for c in cs]
    full = plan_traffic(scenario, phones, 7)
    parts = []
    for index in (1, 2, 3):
        mine = Shard(index, 3).users(everyone)
        parts += plan_traffic(scenario, phones, 7, frozenset(contacts[u][0].phone for u in mine))
    sent = sorted((at, wamid) for d in full for wamid in d.wamids for at in [d.at])
    assert sorted((d.at, w) for d in parts for w in d.wamids) == sent
    assert sum(d.duplicate for d in parts) >= sum(d.duplicate for d in full) > 0


def test_shard_plans_with_batch_one_keep_the_whole_plans_bodies() -> None:
    scenario = loads(SCENARIO)
    contacts = contacts_for(scenario, scenario.users.user_names())
    phones = [c.phone for cs in contacts.values() for c in cs]
    full = {timeless(d.body): d.at for d in plan_traffic(scenario, phones, 7)}
    kept = plan_traffic(scenario, phones, 7, frozenset(phones[1::3]))
    assert kept and all(full[timeless(d.body)] == d.at for d in kept)


async def test_shard_clients_together_are_the_whole_runs_clients() -> None:
    scenario = loads(SCENARIO)
    group = scenario.clients[1]
    everyone = scenario.users.user_names()
    tokens = dict.fromkeys(everyone, "t")
    opened = dict.fromkeys(everyone, None)
    async with httpx.AsyncClient() as http:
        whole = build_clients(group, "http://x", everyone, tokens, opened, http)
        parts = [
            client
            for index in (1, 2, 3)
            for part in (0, 1)  # each shard over two listener processes
            for client in build_clients(
                group, "http://x", Shard(index, 3).users(everyone), tokens, opened, http,
                part, 2, everyone=everyone,
            )
        ]  # fmt: skip
    assert sorted((c.id, c.visible) for c in parts) == sorted((c.id, c.visible) for c in whole)


def test_report_merge_counts_are_the_shards_sum_and_one_runs(
    shard_files: list[Path], whole: BenchResult, tmp_path: Path
) -> None:
    code, output = merge(*shard_files, "--json-file", tmp_path / "merged.json")
    merged = BenchResult.model_validate_json((tmp_path / "merged.json").read_text())
    shards = load_shards(shard_files)
    assert code == 0, output
    assert "seed 4242, 3 shards merged" in output
    for index, group in enumerate(merged.groups):
        assert group.expected == sum(s.groups[index].expected for s in shards)
        assert group.delivered == sum(s.groups[index].delivered for s in shards)
    assert counts(merged) == counts(whole)
    assert merged.traffic.measured == whole.traffic.measured == 10
    assert [s.index for s in merged.shards] == [1, 2, 3]


def test_report_merge_writes_every_report_of_bench(shard_files: list[Path], tmp_path: Path) -> None:
    files = {kind: tmp_path / f"merged.{kind}" for kind in ("html", "markdown", "junit")}
    code, output = merge(*shard_files, *(f"--{k}={v}" for k, v in files.items()))
    assert code == 0, output
    assert "3 shards merged" in files["html"].read_text()
    assert "3 shards merged" in files["markdown"].read_text()
    assert 'tests="2" failures="0"' in files["junit"].read_text()


def test_shard_and_merged_documents_validate_against_the_published_schema(
    shard_files: list[Path],
) -> None:
    schema = json.loads(
        (Path(__file__).parent.parent / "docs/bench-result.schema.json").read_text()
    )
    shard = json.loads(shard_files[0].read_text())
    jsonschema.validate(shard, schema)
    jsonschema.validate(merge_results(load_shards(shard_files)).document(), schema)
    assert shard["shard"]["index"] == 1 and shard["shard"]["scenario_hash"].startswith("sha256:")


def test_report_merge_percentiles_are_the_histograms_merged_by_hand(
    shard_files: list[Path],
) -> None:
    shards = load_shards(shard_files)
    merged = merge_results(shards)
    for index, group in enumerate(merged.groups):
        by_hand = HdrHistogram(1, 3_600_000_000, 3)
        for shard in shards:
            by_hand.add(HdrHistogram.decode(shard.groups[index].histogram.encode()))
        assert group.latency.count == by_hand.get_total_count() > 0
        for name, q in (("p50", 50), ("p95", 95), ("p99", 99)):
            assert getattr(group.latency, name) == by_hand.get_value_at_percentile(q) / 1000
        assert group.latency.max == by_hand.get_max_value() / 1000


def test_report_merge_judges_thresholds_on_the_merged_figures(shard_files: list[Path]) -> None:
    shards = load_shards(shard_files)
    merged = merge_results(shards)
    verdict = merged.thresholds[0]
    assert verdict.expression == "socketio.delivered >= 10" and verdict.passed
    assert not any(s.thresholds[0].passed for s in shards)  # a third of the users each


def test_bench_shard_exits_zero_when_its_part_misses_a_threshold(
    shard_files: list[Path],
) -> None:
    output = shard_files[0].with_suffix(".txt").read_text()
    assert "✗ socketio.delivered >= 10: FAILED" in output
    assert "shard 1/3: the thresholds above are this shard's part" in output


def test_report_merge_exits_one_when_a_merged_threshold_fails(
    shard_files: list[Path], tmp_path: Path
) -> None:
    copies = []
    for path in shard_files:
        document = json.loads(path.read_text())
        document["thresholds"][0]["expression"] = "socketio.delivered > 10"
        copies.append(tmp_path / path.name)
        copies[-1].write_text(json.dumps(document))
    code, output = merge(*copies, "--junit", tmp_path / "bench.xml")
    assert code == 1
    assert "socketio.delivered > 10: FAILED (measured 10)" in output
    assert 'failures="1"' in (tmp_path / "bench.xml").read_text()


# Shard 2/3 of the same scenario with one more user: another scenario, under the same name.
OTHER_SCENARIO = Shard(2, 3).info(loads(SCENARIO.replace("count = 6", "count = 7")), 4242)


def test_scenario_hash_ignores_the_backend_address_and_seed_only() -> None:
    same = SCENARIO.replace("127.0.0.1:1", "10.0.0.9:8000").replace("4242", "1")
    assert scenario_hash(loads(same)) == scenario_hash(loads(SCENARIO))
    assert OTHER_SCENARIO.scenario_hash != scenario_hash(loads(SCENARIO))


@pytest.mark.parametrize(
    ("change", "said"),
    [
        pytest.param(OTHER_SCENARIO.model_dump(), "another scenario", id="scenario"),
        pytest.param({"seed": 1}, "another run (seed 1", id="seed"),
    ],
)
def test_report_merge_refuses_a_shard_of_another_run_in_one_line(
    shard_files: list[Path], tmp_path: Path, change: dict[str, Any], said: str
) -> None:
    other = edited(shard_files[1], tmp_path, **change)
    code, output = merge(shard_files[0], other, shard_files[2])
    assert code == 2
    assert output.count("\n") == 1 and str(other) in output and said in output


def test_report_merge_expands_a_pattern_no_shell_expanded(shard_files: list[Path]) -> None:
    code, output = merge(shard_files[0].parent / "shard-*.json")
    assert code == 0 and "3 shards merged" in output


def test_report_merge_names_a_missing_shard(shard_files: list[Path]) -> None:
    code, output = merge(shard_files[0], shard_files[2])
    assert (code, output.strip()) == (2, "error: shard 2/3 missing")


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        pytest.param("absent.json", None, "cannot read", id="absent"),
        pytest.param("broken.json", "{not json", "not a wasim bench result", id="broken"),
        pytest.param("whole.json", "WHOLE", "not a shard's result", id="unsharded"),
    ],
)
def test_report_merge_refuses_a_file_that_is_not_a_shard(
    shard_files: list[Path], tmp_path: Path, name: str, text: str | None, said: str
) -> None:
    path = tmp_path / name
    if text == "WHOLE":
        document = json.loads(shard_files[0].read_text())
        document.pop("shard")
        text = json.dumps(document)
    if text is not None:
        path.write_text(text)
    code, output = merge(*shard_files, path)
    assert code == 2 and output.count("\n") == 1 and str(path) in output and said in output


def test_report_merge_refuses_a_repeated_shard(shard_files: list[Path]) -> None:
    code, output = merge(*shard_files, shard_files[1])
    assert code == 2 and "shard 2/3 repeated" in output


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/7"])
def test_bench_shard_refuses_a_bad_shard_in_one_line(value: str) -> None:
    result = CliRunner().invoke(app, ["bench", "ci-smoke", "--seed", "1", "--shard", value])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "--shard" in result.output


def test_bench_shard_needs_a_seed() -> None:
    result = CliRunner().invoke(app, ["bench", "ci-smoke", "--shard", "1/2"])
    assert result.exit_code == 2 and "--seed" in result.output


def test_bench_shard_takes_its_seed_from_the_environment() -> None:
    env = {"WASIM_SEED": "5", "WASIM_SHARD": "2/2"}
    result = CliRunner().invoke(app, ["bench", "ci-smoke", "--users", "1"], env=env)
    assert result.exit_code == 2 and "--shard 2/2: 2 shards for 1 users" in result.output


async def test_shards_of_a_foreign_backend_add_up_to_every_delivery(foreign_url: str) -> None:
    # tests/foreign_backend.py: login for tokens, a setup call's captured id, other paths and
    # event names, no event ids: each shard logs in and sets up only its own users.
    from tests.test_bench_faults import FOREIGN, TRAFFIC

    text = FOREIGN.format(url=foreign_url) + TRAFFIC.replace("[traffic]", "[traffic]\nseed = 5")
    scenario = loads(text.replace("count = 2", "count = 3"))
    parts = [await run_bench(scenario, shard=Shard(index, 2)) for index in (1, 2)]
    merged = merge_results(parts)
    assert [p.shard.index for p in parts if p.shard] == [1, 2]
    for group in merged.groups:
        shares = [next(g for g in p.groups if g.name == group.name) for p in parts]
        assert group.expected == sum(s.expected for s in shares) > 0
        assert group.delivered == group.expected, group.name
        assert group.users == sum(s.users for s in shares) == 3
