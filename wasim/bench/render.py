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


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return f"{matrix.duration(ordered[len(ordered) // 2])} / {matrix.duration(p99)}"


def fault_tables(result: BenchResult) -> list[RenderableType]:
    """The faults section: per fault, what each group lived through."""
    out: list[RenderableType] = []
    for index, window in enumerate(result.faults):
        shown = [g for g in result.groups if index < len(g.faults)]
        if not shown:
            continue
        detail = f", {window.detail}" if window.detail else ""
        out.append(
            Text(
                f"fault {window.name} ({window.kind}{detail}): "
                f"{window.start_s:.1f}-{window.end_s:.1f} s",
                style="bold",
            )
        )
        grid = Table(box=_BOX, show_edge=False, pad_edge=False)
        grid.add_column("", style="bold", no_wrap=True)
        for group in shown:
            grid.add_column(group.name, justify="right")
        figures = [group.faults[index] for group in shown]

        def latency(group: GroupResult, key: str, at: int) -> str:
            fault = group.faults[at]
            steady = group.steady
            base = f" (steady {matrix.duration(getattr(steady, key))})" if steady else ""
            summary = fault.latency
            return matrix.duration(getattr(summary, key)) + base if summary.count else "-"

        rows = [
            ("sent during it", [str(f.deliveries) for f in figures]),
            (
                "live / replay / poll",
                [
                    f"{f.reached['live']} / {f.reached['replay']} / {f.reached['poll']}"
                    for f in figures
                ],
            ),
            ("never (missed)", [str(f.reached["never"]) for f in figures]),
            ("duplicated", [str(f.duplicated) for f in figures]),
            ("noticed p50 / p99", [_spread(f.noticed) for f in figures]),
            ("reconnected p50 / p99", [_spread(f.reconnected) for f in figures]),
            ("polling started p50 / p99", [_spread(f.fallback_started) for f in figures]),
            ("polling stopped p50 / p99", [_spread(f.fallback_stopped) for f in figures]),
            ("latency p50", [latency(g, "p50", index) for g in shown]),
            ("latency p95", [latency(g, "p95", index) for g in shown]),
            ("requests during it", [str(f.requests) for f in figures]),
        ]
        for label, cells in rows:
            grid.add_row(label, *cells)
        out.append(grid)
    return out


def table(result: BenchResult) -> Table:
    """The whole matrix in one table (every group side by side)."""
    return tables(result, width=10_000)[0]


def summary(result: BenchResult, width: int = 120) -> Group:
    title = Text(matrix.title(result), style="bold")
    parts: list[RenderableType] = [title, *tables(result, width), *fault_tables(result)]
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
