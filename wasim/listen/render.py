"""Printing a listen run: a live tail or NDJSON lines, then the summary."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wasim.listen.summary import Summary
from wasim.workers import write_record


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


print_json = write_record  # NDJSON lines, as a listener process writes them


def render_record(console: Console, record: dict[str, Any]) -> None:
    """One line of the live tail."""
    kind = record["type"]
    at = clock(record.get("at") or time.time())
    who = f"{record.get('user', '')} {record.get('transport', '')}"
    if kind == "event":
        shown = _latency(record.get("latency_ms"), record.get("latency_source"))
        text = escape(record["summary"])
        console.print(
            f"[dim]{at}[/] {who} [bold cyan]{record['event']}[/] {text}{shown}",
            highlight=False,
            markup=True,
        )
    elif kind == "ready":
        console.print(
            f"[dim]{at}[/] [green]ready[/]: {record['connected']} of {record['requested']} "
            f"listeners connected, {record['failed']} failed",
            highlight=False,
        )
        for reason, count in record.get("failures", {}).items():
            console.print(f"  [red]failed[/] ×{count}: {escape(reason)}", highlight=False)
    elif kind == "connected":
        console.print(f"[dim]{at}[/] {who} [green]connected again[/]", highlight=False)
    else:
        console.print(
            f"[dim]{at}[/] {who} [yellow]{kind}[/]: {escape(record.get('reason') or '')}",
            highlight=False,
        )


def render_summary(console: Console, summary: Summary) -> None:
    table = Table(title="wasim listen: summary", show_header=True)
    table.add_column("transport / event")
    table.add_column("count", justify="right")
    for key, count in sorted(summary.events.items()):
        table.add_row(key, str(count))
    console.print(table)
    console.print(
        f"connected {summary.connected} of {summary.requested}, failed {summary.failed}; "
        f"reconnects {summary.reconnects}, duplicates {summary.duplicates}, "
        f"gaps {summary.gaps} ({summary.missed} missed), down at the end {summary.down_at_end}",
        highlight=False,
    )
    for reason, count in summary.failures.most_common(5):
        console.print(f"  [red]failed[/] ×{count}: {escape(reason)}", highlight=False)
    if summary.poll_requests:
        console.print(
            f"hybrid: {summary.by_push} messages by push, {summary.by_poll} by polling "
            f"({summary.poll_requests} poll requests)",
            highlight=False,
        )
    s = summary.latency.summary()
    if summary.latency_source == "ledger":
        how = ", ".join(f"{count} by {how}" for how, count in sorted(summary.matched_by.items()))
        console.print(
            f"latency (received − scheduled send, from the send ledger): p50 {s.p50:.1f} ms, "
            f"p99 {s.p99:.1f} ms, max {s.max:.1f} ms ({s.count} deliveries: {how})",
            highlight=False,
        )
    elif summary.latency_source == "timestamp":
        console.print(
            f"latency (≈ from message timestamps, whole seconds): p50 {s.p50 / 1000:.1f} s, "
            f"p99 {s.p99 / 1000:.1f} s, max {s.max / 1000:.1f} s",
            highlight=False,
        )
    if hint := summary.hint:
        console.print(f"[yellow]! {escape(hint)}[/]", highlight=False)


def _latency(ms: float | None, source: str | None) -> str:
    if ms is None:
        return ""
    if source == "ledger":
        return f" [dim]({ms:.1f} ms by ledger)[/]"
    return f" [dim](≈ {ms / 1000:.1f} s from timestamp)[/]"
