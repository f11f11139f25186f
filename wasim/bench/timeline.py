"""Latency over time, kept small: at most `LIMIT` points per group, with the spikes kept.

A run can deliver millions of messages; the report draws a few thousand. Plain random sampling
would drop the rare slow delivery that the picture exists to show, so the points are decimated
the way time-series plots usually are: the run is cut into `LIMIT // 2` slices of equal count,
and each slice keeps its lowest and its highest latency. Each listener process decimates its
own points; the merge decimates their union again.
"""

from __future__ import annotations

from collections.abc import Iterable

LIMIT = 2_000

Point = tuple[float, float]  # (seconds, latency ms)


def decimate(points: Iterable[Point], limit: int = LIMIT) -> list[Point]:
    """At most `limit` points in time order: every point, or each slice's lowest and highest."""
    ordered = sorted(points)
    if len(ordered) <= limit:
        return ordered
    slices = max(limit // 2, 1)
    kept: list[Point] = []
    for index in range(slices):
        chunk = ordered[index * len(ordered) // slices : (index + 1) * len(ordered) // slices]
        if not chunk:
            continue
        low = min(chunk, key=lambda point: point[1])
        high = max(chunk, key=lambda point: point[1])
        kept.extend(sorted({low, high}))
    return kept


def relative(points: Iterable[Point], origin: float) -> list[Point]:
    """Points whose time is a Unix time, as seconds after `origin`, rounded for the JSON."""
    return [(round(at - origin, 3), round(ms, 3)) for at, ms in points]
