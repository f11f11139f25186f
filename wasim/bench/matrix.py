"""The comparison matrix shared by every renderer: one row per figure, one column per group."""

from __future__ import annotations

from collections.abc import Callable

from wasim.bench.results import BenchResult, GroupResult
from wasim.bench.thresholds import format_number
from wasim.correlate import HOWS


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
    return duration(float(getattr(group.latency, key)))


def _expected(group: GroupResult, key: str) -> str:
    e = group.expected_latency
    if e is None:
        return "-"
    return duration(e.mean_ms if key == "mean" else e.max_ms)


def _delivered(group: GroupResult) -> str:
    """`40/40`; the share only when something is missing; FAILED when nothing connected."""
    if group.failed:
        return "FAILED"
    text = f"{group.delivered}/{group.expected}"
    if group.delivered < group.expected:
        text += f" ({min(group.delivery_ratio, 0.99):.0%})"
    return text


def _matched(group: GroupResult) -> str:
    """How the deliveries were found: `id`, `marker`, or both with counts."""
    found = {how: group.matched_by.get(how, 0) for how in HOWS if group.matched_by.get(how)}
    if not found:
        return "-"
    if len(found) == 1:
        return next(iter(found))
    return ", ".join(f"{how} {count}" for how, count in found.items())


def _number(value: float) -> str:
    return format_number(round(value)) if value >= 10 else format_number(value)


def rows(result: BenchResult) -> list[tuple[str, list[str]]]:
    """(row label, one cell per group), read like DESIGN.md's comparison table: latency first,
    then API calls per hour for all users, then bandwidth per user and hour."""
    groups = result.groups
    users = max((g.users for g in groups), default=0)

    def row(label: str, cell: Callable[[GroupResult], str]) -> tuple[str, list[str]]:
        return label, [cell(g) for g in groups]

    return [
        row("clients (visible)", lambda g: f"{g.clients} ({g.visible_clients})"),
        row("latency p50", lambda g: _latency(g, "p50")),
        row("latency p95", lambda g: _latency(g, "p95")),
        row("latency p99", lambda g: _latency(g, "p99")),
        row("latency max", lambda g: _latency(g, "max")),
        row("latency mean", lambda g: _latency(g, "mean")),
        row("expected mean", lambda g: _expected(g, "mean")),
        row("expected max", lambda g: _expected(g, "max")),
        row("delivered", _delivered),
        row("matched by", _matched),
        row(f"API calls/h, {users} users", lambda g: _number(g.requests_per_user_hour * g.users)),
        row("requests/user/hour", lambda g: _number(g.requests_per_user_hour)),
        row("requests/min, all", lambda g: _number(g.requests_per_minute)),
        row("requests at connect", lambda g: format_number(g.connect_requests)),
        row("requests in window", lambda g: format_number(g.requests)),
        row("bandwidth/user/hour", lambda g: size(g.bytes_per_user_hour)),
        row("304 Not Modified", lambda g: format_number(g.not_modified)),
        row("errors / reconnects", lambda g: f"{g.errors} / {g.reconnects}"),
    ]


def sharding(result: BenchResult) -> str:
    """`, shard 2/3` for a shard's result, `, 3 shards merged` for a merge, else nothing."""
    if result.shard is not None:
        return f", shard {result.shard.index}/{result.shard.count}"
    if result.shards:
        return f", {len(result.shards)} shards merged"
    return ""


def title(result: BenchResult) -> str:
    mark = f" [SUSPECT: {result.saturation.headline}]" if result.suspect else ""
    seed = f", seed {result.seed}" if result.seed is not None else ""
    seed += sharding(result)
    t = result.traffic
    return (
        f"wasim bench: {result.scenario} against {result.target}: {t.measured} measured "
        f"messages of {t.messages} at {t.rate:g}/s, {result.duration_s:.0f} s{seed}{mark}"
    )


# Student's t, two-sided 95%, by degrees of freedom: few clients make a wide interval.
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}


def _t95(freedom: int) -> float:
    if freedom < 1:
        return 0.0
    return _T95.get(freedom, 2.23 if freedom < 15 else 2.1 if freedom < 30 else 1.96)


def _expectation_note(group: GroupResult) -> str | None:
    e = group.expected_latency
    if e is None:
        return None
    text = (
        f"{group.name}: expected = the wait for the first of its pollers ({e.pattern}, "
        f"independent phases) to show a message: {e.formula} = {duration(e.formula_ms)}"
    )
    if e.interval_s and abs(e.formula_ms - e.single_poller_mean_ms) > 1.0:
        text += f", not T/2 = {duration(e.single_poller_mean_ms)}"
    if abs(e.mean_ms - e.formula_ms) > 0.01 * e.formula_ms:
        text += (
            f"; {duration(e.mean_ms)} over this run's messages (the list shows only a chat's "
            "last message, so a newer one hides it from the list pollers)"
        )
    if e.unshown:
        text += f"; {e.unshown} messages no visible poller can show (replaced before a list poll)"
    if group.latency.count and e.mean_ms:
        clients = group.visible_clients
        measured = group.latency.mean
        spread = _t95(clients - 1) * group.latency_mean_se_ms
        verdict = "consistent" if abs(measured - e.mean_ms) <= spread else "NOT consistent"
        text += (
            f"; measured {duration(measured)} ± {duration(spread)} (95% interval over "
            f"{clients} clients, whose poll phases are fixed for the run): {verdict} with it"
        )
    hidden = group.clients - group.visible_clients
    if hidden:
        text += f"; {hidden} hidden tabs do not poll and are not counted"
    return text


def _cost_note(result: BenchResult) -> str | None:
    if not result.groups:
        return None
    return (
        "cost: requests/user/hour is one user's one-hour session: the requests at connect once "
        "(Socket.IO or WebSocket upgrade, SSE GET, first list load), plus the measured window's "
        "rate for an hour; a push client's requests are its connects and reconnects, its "
        "bandwidth the frames or stream bytes it received"
    )


def _hybrid_note(group: GroupResult) -> str | None:
    if group.kind != "hybrid":
        return None
    if group.requests == 0:
        return (
            f"{group.name}: polls only while Socket.IO is down; push stayed up "
            f"({group.reconnects} reconnects), so it made no requests in the window"
        )
    return (
        f"{group.name}: {group.requests} requests in the window: polling while push was down "
        f'({group.reconnects} reconnects), or with fallback = "always"'
    )


def _load_note(result: BenchResult) -> str | None:
    s = result.saturation
    if not s.processes:
        return None
    count = len(s.processes)
    where = "listener process" if count == 1 else f"{count} listener processes, the busiest"
    return (
        f"load generator: {where} at CPU {s.cpu_percent_mean:.0f}% of a core, event-loop lag "
        f"p99 {s.loop_lag_p99_ms:.3g} ms; machine CPU {s.machine.cpu_percent_mean:.0f}% of "
        f"{s.machine.cores} cores over the run"
    )


def notes(result: BenchResult) -> list[str]:
    """Warnings, saturation, and why figures differ from what the design expects."""
    lines = list(result.warnings)
    for reason in result.saturation.reasons:
        if f"SUSPECT: {reason}" not in lines:
            lines.append(f"SUSPECT: {reason}")
    load = _load_note(result)
    if load:
        lines.append(load)
    for group in result.groups:
        for note in (_expectation_note(group), _hybrid_note(group)):
            if note:
                lines.append(note)
        if group.missing_count and not group.failed:
            sample = ", ".join(m.wamid for m in group.missing[:3])
            lines.append(f"{group.name}: {group.missing_count} deliveries missing, e.g. {sample}")
    cost = _cost_note(result)
    if cost:
        lines.append(cost)
    if result.traffic.send_errors:
        lines.append(f"{result.traffic.send_errors} webhook POSTs failed")
    return lines
