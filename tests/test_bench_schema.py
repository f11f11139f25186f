"""The published JSON Schema of `wasim bench --json` is generated from the result models, and
what bench writes validates against it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from wasim.bench.results import BenchResult, TrafficSummary, json_schema
from wasim.cli._app import app

PUBLISHED = Path(__file__).parent.parent / "docs" / "bench-result.schema.json"


def test_bench_schema_published_is_the_one_the_models_generate() -> None:
    assert json.loads(PUBLISHED.read_text()) == json_schema(), (
        "docs/bench-result.schema.json is stale: regenerate it from wasim.bench.results"
    )


def test_bench_json_output_validates_against_the_published_schema(
    tmp_path: Path, backend_url: str
) -> None:
    from test_bench_run import tiny

    scenario = tmp_path / "tiny.toml"
    scenario.write_text(tiny(backend_url, "sse.delivery_ratio >= 1"))
    result = CliRunner().invoke(app, ["bench", str(scenario), "--no-progress", "--json"])
    document = json.loads(result.output)
    jsonschema.validate(document, json.loads(PUBLISHED.read_text()))
    assert document["schema"] == "wasim.bench/1" and document["groups"][0]["failed"] is False


def test_bench_result_document_reads_back_into_the_same_figures() -> None:
    written = BenchResult(
        scenario="seed",
        target="http://127.0.0.1:1",
        started_at=1_795_000_000.25,
        duration_s=41.0,
        traffic=TrafficSummary(messages=3),
        groups=[],
    ).document()
    again = BenchResult.model_validate(written)
    assert again.started_at == 1_795_000_000.25
    assert again.document() == written
