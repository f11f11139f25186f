"""`wasim bench`: run a scenario, print the comparison table, write reports, set the exit code."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from wasim.bench import Progress as BenchProgress
from wasim.bench import load, render_result, run_bench, write_reports
from wasim.bench.baseline import load_baseline
from wasim.bench.dashboard import Dashboard
from wasim.bench.loader import apply_overrides
from wasim.bench.png import check_available
from wasim.bench.runner import ProgressCallback
from wasim.bench.shard import ENV as SHARD_ENV
from wasim.bench.shard import check_shardable, parse_shard
from wasim.bench.thresholds import parse_percentage
from wasim.cli._app import Command, app, console, err_console, fail, run
from wasim.cli.options import (
    HtmlFile,
    JsonFile,
    JunitFile,
    MarkdownFile,
    MetricsHost,
    MetricsPort,
    OtlpEndpoint,
    OtlpInterval,
    ResultJson,
    fan_out,
    open_metrics,
)
from wasim.errors import ConfigError, ThresholdError


@app.command("bench", cls=Command)
def bench_command(
    scenario: Annotated[
        str, typer.Argument(help="Scenario file, or a bundled name: seed, ci-smoke.")
    ] = "seed",
    as_json: ResultJson = False,
    json_file: JsonFile = None,
    junit: JunitFile = None,
    markdown: MarkdownFile = None,
    html: HtmlFile = None,
    png: Annotated[
        Path | None,
        typer.Option(help="Write the report's latency CDF as a PNG (needs the png extra)."),
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="An earlier --json result to compare against.")
    ] = None,
    max_regression: Annotated[
        str, typer.Option(help="Allowed worsening against --baseline, e.g. 20%.")
    ] = "20%",
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Listener processes to spread the clients over (default: the scenario's "
            "\\[load] processes, else one per 1,000 clients, at most one per core).",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show live progress on stderr.")] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Serve a dashboard on a free local port (address printed) that updates "
            "every second until the run ends.",
        ),
    ] = False,
    url: Annotated[
        str | None,
        typer.Option(help="Bench the backend running at this URL instead of the scenario's."),
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option(help="Send traffic for this long instead, e.g. 30s, 2m, 500ms."),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="Inbound messages per second, all users together.")
    ] = None,
    users: Annotated[
        int | None, typer.Option(help="How many users instead of the scenario's \\[users].")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            envvar="WASIM_SEED",
            help="Random seed of the traffic, to repeat a run's message ids exactly.",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            envvar=SHARD_ENV,
            metavar="I/N",
            help="Run shard I of N (1-based): every N-th user from the I-th, their clients and "
            "their webhooks; merge the shards' --json-file with `wasim report merge`. Needs "
            "--seed (the same on every shard) or the scenario's seed.",
        ),
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = "127.0.0.1",
    otlp_endpoint: OtlpEndpoint = None,
    otlp_interval: OtlpInterval = "5s",
) -> None:
    """Measure polling versus push end to end and check the scenario's thresholds.

    Exit 0 if every threshold holds, 1 if one fails, 2 on a usage or scenario error, 3 when the
    run broke (backend unreachable or gone), 130 when interrupted (Ctrl-C). A shard (--shard)
    does not judge the thresholds on its part: the merge does.

    Example: wasim bench seed --url http://127.0.0.1:8000 --duration 2m --junit bench.xml
    """
    try:
        spec = apply_overrides(
            load(scenario), url=url, duration=duration, rate=rate, users=users, seed=seed
        )
        part = parse_shard(shard) if shard is not None else None
        if part is not None:
            check_shardable(spec, part)
        allowance = parse_percentage(max_regression)
        old = load_baseline(baseline) if baseline is not None else None
        if png is not None:
            check_available()
    except ConfigError as exc:
        fail(str(exc), exc.exit_code)
    bar = _live(progress and not as_json)
    with contextlib.ExitStack() as stack:
        shard_label = {"shard": str(part)} if part is not None else None
        metrics = open_metrics(
            stack, "bench", metrics_port, metrics_host, otlp_endpoint, otlp_interval, shard_label
        )
        board = stack.enter_context(Dashboard()) if live else None
        if board is not None:
            err_console.print(f"live dashboard: {board.url}", highlight=False)
        with bar as on_progress:
            result = run(
                run_bench(
                    spec,
                    on_progress=fan_out(
                        on_progress, metrics.bench_progress if metrics is not None else None
                    ),
                    baseline=old,
                    max_regression=allowance,
                    processes=processes,
                    on_live=fan_out(
                        board.update if board is not None else None,
                        metrics.update if metrics is not None else None,
                    ),
                    shard=part,
                ),
                on_interrupt=bar.interrupted,
            )
        if board is not None:
            board.finish(result)
        if metrics is not None:
            metrics.progress("done", result.traffic.posts, metrics.planned)
    try:
        write_reports(
            result,
            json_file=json_file,
            junit_file=junit,
            markdown_file=markdown,
            html_file=html,
            png_file=png,
        )
    except ConfigError as exc:
        fail(str(exc), exc.exit_code)
    render_result(console, result, as_json=as_json)
    if part is not None and result.thresholds:
        err_console.print(
            f"shard {part}: the thresholds above are this shard's part; `wasim report merge` "
            "judges the whole run",
            highlight=False,
        )
    failures = result.failures(verdicts=part is None)
    if failures:
        fail(f"{len(failures)} check(s) failed: {failures[0]}", ThresholdError.exit_code)


class _live:
    """A rich progress bar on stderr, fed by the runner's progress callback; the last state
    says how far an interrupted run got."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console.is_terminal
        self.last: BenchProgress | None = None
        self.bar = Progress(
            TextColumn("[bold]{task.fields[phase]:<10}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self.task = self.bar.add_task("bench", total=1.0, phase="starting", detail="")

    def __enter__(self) -> ProgressCallback:
        if self.enabled:
            self.bar.start()
        return self.update

    def update(self, state: BenchProgress) -> None:
        self.last = state
        if not self.enabled:
            return
        detail = f"{state.sent}/{state.planned} posts, {state.delivered} deliveries"
        done = min(max(state.elapsed / state.total, 0.0), 1.0) if state.total else 0.0
        self.bar.update(self.task, completed=done, phase=state.phase, detail=detail)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()

    def interrupted(self) -> str:
        """The line for Ctrl-C: the phase the run was in and what it had done (there is no
        result: figures and thresholds need the whole run)."""
        state = self.last
        if state is None:
            return "wasim bench: interrupted while starting; no result"
        return (
            f"wasim bench: interrupted while {state.phase} after {state.elapsed:.1f} s: "
            f"{state.sent} of {state.planned} POSTs sent, {state.delivered} deliveries seen; "
            "no result (figures and thresholds need the whole run)"
        )
