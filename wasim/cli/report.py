"""`wasim report`: reports from results already written, e.g. merging a sharded run's shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from wasim.bench import render_result, write_reports
from wasim.bench.merge import expand, load_shards, merge_results
from wasim.cli._app import Command, Commands, app, console, fail, handled
from wasim.errors import ThresholdError

report_app = typer.Typer(
    name="report",
    cls=Commands,
    no_args_is_help=True,
    help="Make reports from bench results already written: merge the shards of a sharded run.\n\n"
    "Example: wasim report merge shard-*.json --junit bench.xml",
)
app.add_typer(report_app)


@report_app.command("merge", cls=Command)
def merge_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="The shards' JSON results (wasim bench --shard I/N --json-file); a quoted "
            "pattern such as 'results/shard-*.json' is expanded."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON (schema wasim.bench/1).")
    ] = False,
    json_file: Annotated[
        Path | None, typer.Option("--json-file", help="Also write the JSON result here.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option(help="Write JUnit XML here: one test case per threshold.")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown summary here.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write a self-contained HTML report.")] = None,
) -> None:
    """Merge the shards of one run into one exact report and check its thresholds on it.

    Exit 0 if every threshold holds, 1 if one fails, 2 when a file cannot be read, is not a
    shard's result, or does not belong with the others (another scenario or seed, a shard
    repeated or missing).

    Example: wasim report merge shard-1.json shard-2.json shard-3.json --html report.html
    """
    with handled():
        paths = expand(files)
        result = merge_results(load_shards(paths), [str(path) for path in paths])
        write_reports(
            result, json_file=json_file, junit_file=junit, markdown_file=markdown, html_file=html
        )
    render_result(console, result, as_json=as_json)
    failures = result.failures()
    if failures:
        fail(f"{len(failures)} check(s) failed: {failures[0]}", ThresholdError.exit_code)
