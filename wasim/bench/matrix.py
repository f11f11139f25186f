"""The comparison matrix shared by every renderer: one row per figure, one column per group."""

from __future__ import annotations

from wasim.bench.results import BenchResult, GroupResult
from wasim.bench.thresholds import format_number


def duration(ms: float) -> str:
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def size(count: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count:.0f} B"


def _latency(group: GroupResult, key: str) -> str:
    if group.latency.count == 0:
        return "-"
    return duration(float(group.latency.as_dict()[key]))


def _expected(group: GroupResult) -> str:
    if group.expected_latency is None:
        return "-"
    e = group.expected_latency
    return f"{duration(e.mean_ms)} / {duration(e.max_ms)}"


def _delivered(group: GroupResult) -> str:
    text = f"{group.delivered}/{group.expected} ({group.delivery_ratio:.0%})"
    return text if group.missing_count == 0 else f"{text}, {group.missing_count} missing"


def rows(result: BenchResult) -> list[tuple[str, list[str]]]:
    """(row label, one cell per group), in the order of DESIGN.md's comparison table."""
    groups = result.groups
    users = max((g.users for g in groups), default=0)

    def row(label: str, cell: object) -> tuple[str, list[str]]:
        return label, [cell(g) for g in groups]  # type: ignore[operator]

    return [
        row("clients (visible)", lambda g: f"{g.clients} ({g.visible_clients})"),
        row("latency p50", lambda g: _latency(g, "p50")),
        row("latency p95", lambda g: _latency(g, "p95")),
        row("latency p99", lambda g: _latency(g, "p99")),
        row("latency max", lambda g: _latency(g, "max")),
        row("latency mean", lambda g: _latency(g, "mean")),
        row("expected mean / max (T/2, T)", _expected),
        row("delivered / expected", _delivered),
        row("requests/minute (all users)", lambda g: format_number(g.requests_per_minute)),
        row(
            f"API calls/hour ({users} users)",
            lambda g: format_number(g.requests_per_user_hour * g.users),
        ),
        row("requests/user/hour", lambda g: format_number(g.requests_per_user_hour)),
        row("bandwidth/user/hour", lambda g: size(g.bytes_per_user_hour)),
        row("304 Not Modified", lambda g: format_number(g.not_modified)),
        row("errors / reconnects", lambda g: f"{g.errors} / {g.reconnects}"),
    ]


def title(result: BenchResult) -> str:
    mark = " [SUSPECT: load generator saturated]" if result.suspect else ""
    t = result.traffic
    return (
        f"wasim bench: {result.scenario} against {result.target}: {t.measured} measured "
        f"messages of {t.messages} at {t.rate:g}/s, {result.duration_s:.0f} s{mark}"
    )


def notes(result: BenchResult) -> list[str]:
    """Warnings, saturation, and why figures differ from what the design expects."""
    lines = list(result.warnings)
    if result.suspect:
        lines.append("SUSPECT: " + "; ".join(result.saturation.reasons))
    for group in result.groups:
        e = group.expected_latency
        if e is not None and group.latency.count:
            ratio = group.latency.mean_ms / e.mean_ms if e.mean_ms else 0.0
            if ratio > 1.5 or ratio < 0.5:
                lines.append(
                    f"{group.name}: mean latency {duration(group.latency.mean_ms)} is "
                    f"{ratio:.1f}x the analytical T/2 = {duration(e.mean_ms)}"
                    + (" (the list shows only a chat's last message)" if ratio > 1.5 else "")
                )
        if group.missing_count:
            sample = ", ".join(m.wamid for m in group.missing[:3])
            lines.append(f"{group.name}: {group.missing_count} deliveries missing, e.g. {sample}")
    if result.traffic.send_errors:
        lines.append(f"{result.traffic.send_errors} webhook POSTs failed")
    return lines
