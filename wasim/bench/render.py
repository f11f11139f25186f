"""Terminal output of a bench run: the comparison table, notes, thresholds; or JSON."""

from __future__ import annotations

import json

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from wasim.bench import matrix
from wasim.bench.results import BenchResult


def table(result: BenchResult) -> Table:
    grid = Table(title=matrix.title(result), title_justify="left", show_lines=False)
    grid.add_column("", style="bold", no_wrap=True)
    for group in result.groups:
        header = group.name if group.name == group.kind else f"{group.name}\n({group.kind})"
        grid.add_column(header, justify="right", no_wrap=True)
    for label, cells in matrix.rows(result):
        grid.add_row(label, *cells)
    return grid


def summary(result: BenchResult) -> Group:
    parts: list[Table | Text] = [table(result)]
    for note in matrix.notes(result):
        parts.append(Text(f"! {note}", style="yellow"))
    for outcome in result.thresholds:
        style = "green" if outcome.passed else "bold red"
        parts.append(Text(("✓ " if outcome.passed else "✗ ") + outcome.message, style=style))
    for regression in result.regressions:
        if not regression.passed:
            parts.append(
                Text(
                    f"✗ {regression.figure} regressed {regression.change:+.0%} against the "
                    f"baseline ({regression.baseline:.4g} → {regression.actual:.4g})",
                    style="bold red",
                )
            )
    return Group(*parts)


def render_result(console: Console, result: BenchResult, as_json: bool = False) -> None:
    """Print the result: the table and verdicts, or the JSON document."""
    if as_json:
        print(json.dumps(result.to_dict(), indent=2), file=console.file, flush=True)
    else:
        # The matrix is wide; never squeeze it into narrow columns when piped (80 columns).
        console.print(summary(result), width=max(console.width, 120), crop=False)
