"""Terminal output of a bench run: the comparison table, notes, thresholds; or JSON.

The table never truncates a cell: when every client group does not fit the console's width
side by side, the groups are split over several tables, each with the row labels.
"""

from __future__ import annotations

import json

from rich import box
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from wasim.bench import matrix
from wasim.bench.results import BenchResult, GroupResult

_BOX = box.SIMPLE_HEAD


def _header(group: GroupResult) -> str:
    return group.name if group.name == group.kind else f"{group.name}\n({group.kind})"


def _width(lines: list[str]) -> int:
    return max((cell_len(part) for line in lines for part in line.split("\n")), default=0)


def _chunks(result: BenchResult, width: int) -> list[list[int]]:
    """Group indexes per table, as many side by side as fit in `width` (at least one)."""
    rows = matrix.rows(result)
    label = _width([label for label, _ in rows])
    columns = [
        _width([_header(group), *(cells[index] for _, cells in rows)])
        for index, group in enumerate(result.groups)
    ]
    chunks: list[list[int]] = [[]]
    used = label + 2  # a column is its text plus one space of padding on each side
    for index, column in enumerate(columns):
        if chunks[-1] and used + column + 3 > width:
            chunks.append([])
            used = label + 2
        chunks[-1].append(index)
        used += column + 3
    return chunks


def tables(result: BenchResult, width: int = 120) -> list[Table]:
    """The comparison matrix, split by client group to fit `width` columns without cropping."""
    rows = matrix.rows(result)
    out = []
    for chunk in _chunks(result, width):
        grid = Table(box=_BOX, show_edge=False, pad_edge=False)
        grid.add_column("", style="bold", no_wrap=True)
        for index in chunk:
            grid.add_column(_header(result.groups[index]), justify="right", overflow="fold")
        for label, cells in rows:
            grid.add_row(label, *(cells[index] for index in chunk))
        out.append(grid)
    return out


def table(result: BenchResult) -> Table:
    """The whole matrix in one table (every group side by side)."""
    return tables(result, width=10_000)[0]


def summary(result: BenchResult, width: int = 120) -> Group:
    title = Text(matrix.title(result), style="bold")
    parts: list[RenderableType] = [title, *tables(result, width)]
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
        print(json.dumps(result.document(), indent=2), file=console.file, flush=True)
    else:
        console.print(summary(result, console.width))
