"""A self-contained HTML report: the matrix, a latency distribution per group, the cost drawn.

Charts are inline SVG written here, so the file needs no network and no JavaScript.
"""

from __future__ import annotations

from html import escape

from wasim.bench import matrix
from wasim.bench.results import BenchResult, GroupResult
from wasim.stats import LatencyHistogram

_PERCENTILES = (0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 100.0)
_WIDTH, _HEIGHT, _PAD = 360, 180, 40
_STYLE = """
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ddd}
td{text-align:right}td:first-child{text-align:left;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}.pass{color:#080}.fail{color:#b00}
.suspect{background:#fd0;padding:4px 8px;font-weight:700}
"""


def _distribution(group: GroupResult) -> str:
    """Latency against percentile, drawn from the group's histogram."""
    title = f"{escape(group.name)}: latency by percentile (ms)"
    if group.latency.count == 0 or not group.histogram:
        return f"<figure><figcaption>{title}</figcaption><p>no deliveries</p></figure>"
    hist = LatencyHistogram.decode(group.histogram)
    points = [(p, hist.percentile_ms(p)) for p in _PERCENTILES]
    top = max(value for _, value in points) or 1.0
    width, height = _WIDTH - 2 * _PAD, _HEIGHT - 2 * _PAD

    def xy(p: float, value: float) -> tuple[float, float]:
        return _PAD + p / 100.0 * width, _PAD + height - value / top * height

    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(p, v) for p, v in points))
    marks = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>p{p:g}: {v:.1f} ms</title></circle>'
        for p, v in points
        for x, y in [xy(p, v)]
    )
    axes = (
        f'<line x1="{_PAD}" y1="{_PAD + height}" x2="{_PAD + width}" y2="{_PAD + height}" '
        f'stroke="#888"/><line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_PAD + height}" '
        f'stroke="#888"/><text x="{_PAD}" y="{_PAD - 6}" font-size="11">'
        f"{matrix.duration(top)}</text>"
        f'<text x="{_PAD + width}" y="{_HEIGHT - 12}" font-size="11" text-anchor="end">p100</text>'
        f'<text x="{_PAD}" y="{_HEIGHT - 12}" font-size="11">p0</text>'
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{_HEIGHT}" '
        f'role="img" aria-label="{title}">{axes}'
        f'<polyline fill="none" stroke="#36c" stroke-width="2" points="{line}"/>{marks}</svg>'
    )
    return f"<figure><figcaption>{title}</figcaption>{svg}</figure>"


def _cost(result: BenchResult) -> str:
    """Requests per user-hour, one bar per group, on one scale."""
    groups = result.groups
    top = max((g.requests_per_user_hour for g in groups), default=0.0) or 1.0
    bar_h, label_w, chart_w = 22, 150, 420
    bars = []
    for index, group in enumerate(groups):
        y = index * (bar_h + 6)
        w = group.requests_per_user_hour / top * chart_w
        bars.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(group.name)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#36c"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">'
            f"{group.requests_per_user_hour:,.0f}</text>"
        )
    height = len(groups) * (bar_h + 6)
    return (
        "<figure><figcaption>requests per user per hour</figcaption>"
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + chart_w + 80}" '
        f'height="{height}" role="img" aria-label="cost">{"".join(bars)}</svg></figure>'
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
    ) + "".join(
        f'<li class="fail">{escape(r.figure)} regressed {r.change:+.0%}</li>'
        for r in result.regressions
        if not r.passed
    )
    notes = "".join(f"<li>{escape(note)}</li>" for note in matrix.notes(result))
    suspect = (
        f'<p class="suspect">SUSPECT: {escape(result.saturation.headline)}; timings are '
        "unreliable.</p><ul>"
        + "".join(f"<li>{escape(reason)}</li>" for reason in result.saturation.reasons)
        + "</ul>"
        if result.suspect
        else ""
    )
    charts = "".join(_distribution(group) for group in result.groups)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>wasim bench: {escape(result.scenario)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(matrix.title(result))}</h1>{suspect}"
        f"<table><tr><th></th>{head}</tr>{body}</table>"
        f"<ul>{notes}</ul><ul>{verdicts}</ul>"
        f'<h2>Latency distribution</h2><div class="charts">{charts}</div>'
        f"<h2>Cost</h2>{_cost(result)}</body></html>\n"
    )
