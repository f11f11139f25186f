"""A self-contained HTML report: verdict, what ran, one latency CDF of every client kind on a
log time axis, latency over time with the fault windows, cost, the matrix and its notes.

Charts are inline SVG written here, so the file needs no network and no JavaScript.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from html import escape

from wasim.bench import matrix
from wasim.bench.results import BenchResult, GroupResult
from wasim.stats import LatencyHistogram

# Where each curve is sampled: every percent, then the tail.
CDF_PERCENTILES = (*range(0, 100), 99.5, 99.9, 99.99, 100.0)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_W, _H = 820, 380
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 170, 16, 48
_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd}
td{text-align:right}td:first-child{text-align:left;font-weight:600}
.verdict{padding:10px 14px;font-size:18px;font-weight:700;border-radius:4px;color:#fff}
.verdict.pass{background:#1a7f37}.verdict.fail{background:#c62828}
.verdict ul{font-size:14px;font-weight:400;margin:6px 0 0}
.meta{color:#444}.pass{color:#080}.fail{color:#b00}.verdict.pass,.verdict.fail{color:#fff}
.suspect{background:#fd0;padding:4px 8px;font-weight:700}
svg text{font:11px system-ui,sans-serif;fill:#333}
"""


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def cdf(group: GroupResult) -> list[tuple[float, float]]:
    """(latency ms, percent of deliveries at or under it), from the group's histogram."""
    hist = LatencyHistogram.decode(group.histogram)
    if not (group.latency.count and hist.count):
        return []
    return [(max(hist.percentile_ms(p), 0.001), float(p)) for p in CDF_PERCENTILES]


def log_range(values: list[float]) -> tuple[float, float]:
    """Whole decades around `values` (ms), at least one decade wide."""
    low = 10 ** math.floor(math.log10(max(min(values, default=1.0), 0.01)))
    high = 10 ** math.ceil(math.log10(max(max(values, default=10.0), low * 10)))
    return low, high


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def _svg(label: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
        f'viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )


def _label(group: GroupResult) -> str:
    return group.name if group.name == group.kind else f"{group.name} ({group.kind})"


def _legend(groups: list[GroupResult]) -> str:
    x = _W - _RIGHT + 14
    return "".join(
        f'<rect x="{x}" y="{_TOP + 18 * i}" width="14" height="4" fill="{colour(i)}"/>'
        f'<text x="{x + 20}" y="{_TOP + 18 * i + 6}">{escape(_label(g))}</text>'
        for i, g in enumerate(groups)
    )


def _log_axis(low: float, high: float, horizontal: bool) -> tuple[str, Callable[[float], float]]:
    """Gridlines at every decade of [low, high]; returns the SVG and the value -> pixel map."""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    span = math.log10(high) - math.log10(low)

    def place(value: float) -> float:
        share = (math.log10(min(max(value, low), high)) - math.log10(low)) / span
        return _LEFT + share * width if horizontal else _TOP + height - share * height

    lines = []
    decade = low
    while decade <= high * 1.0001:
        at = place(decade)
        if horizontal:
            lines.append(
                f'<line x1="{at:.1f}" y1="{_TOP}" x2="{at:.1f}" y2="{_TOP + height}" '
                f'stroke="#ddd"/><text x="{at:.1f}" y="{_TOP + height + 16}" '
                f'text-anchor="middle">{_ms(decade)}</text>'
            )
        else:
            lines.append(
                f'<line x1="{_LEFT}" y1="{at:.1f}" x2="{_LEFT + width}" y2="{at:.1f}" '
                f'stroke="#ddd"/><text x="{_LEFT - 6}" y="{at + 4:.1f}" '
                f'text-anchor="end">{_ms(decade)}</text>'
            )
        decade *= 10
    return "".join(lines), place


def cdf_chart(result: BenchResult) -> str:
    """Every client kind's latency distribution on one log time axis."""
    curves = [(i, g, cdf(g)) for i, g in enumerate(result.groups)]
    values = [ms for _, _, points in curves for ms, _ in points]
    if not values:
        return "<p>No deliveries: nothing to draw.</p>"
    low, high = log_range(values)
    grid, place_x = _log_axis(low, high, horizontal=True)
    height = _H - _TOP - _BOTTOM
    percent_lines = "".join(
        f'<line x1="{_LEFT}" y1="{_TOP + height * (1 - p / 100):.1f}" x2="{_W - _RIGHT}" '
        f'y2="{_TOP + height * (1 - p / 100):.1f}" stroke="#eee"/>'
        f'<text x="{_LEFT - 6}" y="{_TOP + height * (1 - p / 100) + 4:.1f}" '
        f'text-anchor="end">{p}%</text>'
        for p in (0, 25, 50, 75, 90, 100)
    )
    lines = "".join(
        f'<polyline class="curve" data-group="{escape(g.name)}" fill="none" '
        f'stroke="{colour(i)}" stroke-width="2" points="'
        + " ".join(f"{place_x(ms):.1f},{_TOP + height * (1 - p / 100):.1f}" for ms, p in points)
        + f'"><title>{escape(g.name)}: p50 {_ms(g.latency.p50)}, p99 {_ms(g.latency.p99)}'
        "</title></polyline>"
        for i, g, points in curves
        if points
    )
    axis = (
        f'<text x="{_LEFT + (_W - _LEFT - _RIGHT) / 2}" y="{_H - 8}" text-anchor="middle">'
        "webhook to client, log scale</text>"
    )
    return _svg("latency CDF", percent_lines + grid + lines + axis + _legend(result.groups))


def timeline_chart(result: BenchResult) -> str:
    """Each delivery's latency at the second its message was scheduled, faults shaded."""
    groups = [(i, g) for i, g in enumerate(result.groups) if g.timeline]
    if not groups:
        return "<p>No deliveries: nothing to draw.</p>"
    low, high = log_range([ms for _, g in groups for _, ms in g.timeline])
    grid, place_y = _log_axis(low, high, horizontal=False)
    end = max(
        [t for _, g in groups for t, _ in g.timeline] + [f.end_s for f in result.faults] + [1.0]
    )
    width = _W - _LEFT - _RIGHT

    def place_x(seconds: float) -> float:
        return _LEFT + max(seconds, 0.0) / end * width

    faults = "".join(
        f'<rect class="fault" x="{place_x(f.start_s):.1f}" y="{_TOP}" '
        f'width="{max(place_x(f.end_s) - place_x(f.start_s), 1.5):.1f}" '
        f'height="{_H - _TOP - _BOTTOM}" fill="#ff9800" fill-opacity="0.18">'
        f"<title>{escape(f.kind)} {f.start_s:g}-{f.end_s:g} s {escape(f.detail)}</title></rect>"
        f'<text x="{place_x(f.start_s) + 3:.1f}" y="{_TOP + 12}" fill="#b36b00">'
        f"{escape(f.kind)}</text>"
        for f in result.faults
    )
    ticks = "".join(
        f'<text x="{place_x(t):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle">{t:g} s</text>'
        for t in _nice_ticks(end)
    )
    dots = "".join(
        f'<path class="points" data-group="{escape(g.name)}" stroke="{colour(i)}" '
        'stroke-width="4" stroke-linecap="round" stroke-opacity="0.7" d="'
        + "".join(f"M{place_x(t):.1f} {place_y(ms):.1f}h0" for t, ms in g.timeline)
        + '"/>'
        for i, g in groups
    )
    axis = (
        f'<text x="{_LEFT + width / 2}" y="{_H - 8}" text-anchor="middle">seconds after the '
        "measured window opened (when each message was scheduled)</text>"
    )
    legend = _legend(result.groups)
    return _svg("latency over time", faults + grid + ticks + dots + axis + legend)


def _nice_ticks(end: float) -> list[float]:
    step = 10 ** math.floor(math.log10(end))
    if end / step < 3:
        step /= 2
    return [round(step * k, 6) for k in range(int(end / step) + 1)]


def _bars(result: BenchResult, label: str, values: list[float], unit: str) -> str:
    top = max(values, default=0.0) or 1.0
    bar_h, label_w, chart_w = 22, 170, 460
    bars = []
    for index, (group, value) in enumerate(zip(result.groups, values, strict=True)):
        y = index * (bar_h + 6)
        w = value / top * chart_w
        bars.append(
            f'<text x="0" y="{y + 15}">{escape(group.name)}</text>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
            f'fill="{colour(index)}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}">{value:,.0f}{unit}</text>'
        )
    height = len(result.groups) * (bar_h + 6)
    return (
        f"<figure><figcaption>{escape(label)}</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 110}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{"".join(bars)}</svg>'
        "</figure>"
    )


def verdict(result: BenchResult) -> str:
    """The banner: every threshold held, or which checks failed."""
    failures = result.failures()
    if failures:
        items = "".join(f"<li>{escape(f)}</li>" for f in failures)
        return (
            f'<div class="verdict fail">FAIL: {len(failures)} check(s) failed<ul>{items}</ul></div>'
        )
    held = len(result.thresholds)
    what = f"all {held} threshold(s) held" if held else "no thresholds set"
    return f'<div class="verdict pass">PASS: {what}, every column connected</div>'


def _meta(result: BenchResult) -> str:
    when = datetime.datetime.fromtimestamp(result.started_at, datetime.UTC)
    seed = f", seed {result.seed}" if result.seed is not None else ""
    seed += matrix.sharding(result)
    t = result.traffic
    return (
        f'<p class="meta">{when:%Y-%m-%d %H:%M:%S} UTC · scenario <b>{escape(result.scenario)}'
        f"</b> · target <code>{escape(result.target)}</code> · {t.measured} measured messages "
        f"of {t.messages} at {t.rate:g}/s · measured window {result.duration_s:.0f} s{seed}</p>"
    )


def document(result: BenchResult) -> str:
    head = "".join(f"<th>{escape(g.name)}</th>" for g in result.groups)
    body = "".join(
        f"<tr><td>{escape(label)}</td>{''.join(f'<td>{escape(c)}</td>' for c in cells)}</tr>"
        for label, cells in matrix.rows(result)
    )
    verdicts = "".join(
        f'<li class="{"pass" if o.passed else "fail"}">{escape(o.message)}</li>'
        for o in result.thresholds
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in matrix.notes(result))
    suspect = (
        f'<p class="suspect">SUSPECT: {escape(result.saturation.headline)}; timings are '
        "unreliable.</p>"
        if result.suspect
        else ""
    )
    faults = (
        f"<p>Shaded: {len(result.faults)} fault window(s) the scenario injected.</p>"
        if result.faults
        else ""
    )
    cost = _bars(
        result,
        "requests per user per hour",
        [g.requests_per_user_hour for g in result.groups],
        "",
    ) + _bars(
        result,
        "bandwidth per user per hour (kB)",
        [g.bytes_per_user_hour / 1000 for g in result.groups],
        " kB",
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>wasim bench: {escape(result.scenario)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>wasim bench: {escape(result.scenario)}</h1>{verdict(result)}"
        f"{_meta(result)}{suspect}"
        f"<h2>Latency distribution</h2>{cdf_chart(result)}"
        f"<h2>Latency over time</h2>{faults}{timeline_chart(result)}"
        f"<h2>Cost</h2>{cost}"
        f"<h2>Figures</h2><table><tr><th></th>{head}</tr>{body}</table>"
        f"<ul>{verdicts}</ul><h2>Notes</h2><ul>{notes}</ul></body></html>\n"
    )
