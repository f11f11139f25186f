"""Threshold expressions on reported figures, e.g. `socketio.latency.p95 < 100ms`.

A figure is a dotted name from `BenchResult.figures`: `<group>.latency.<p50|p90|p95|p99|max|
mean>` (milliseconds), `<group>.requests_per_user_hour`, `<group>.delivery_ratio`, ... and the
run-wide `delivery_ratio`. Durations take `us`, `ms`, `s` or `m` (latency figures are in ms; a
bare number means ms); a ratio may be written as a percentage (`>= 99%`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from wasim.bench.results import BenchResult, Verdict
from wasim.errors import ConfigError

_EXPRESSION = re.compile(
    r"^\s*(?P<figure>[A-Za-z_][A-Za-z0-9_.\-]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>us|ms|s|m|%)?\s*$"
)
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


_DURATIONS = (".latency.", ".notice.", ".reconnect.", ".fallback.")


def is_duration_figure(figure: str) -> bool:
    """Figures in milliseconds: latencies, and a fault's notice, reconnect, fallback times."""
    return any(part in f".{figure}" for part in _DURATIONS)


@dataclass(frozen=True)
class Threshold:
    """A parsed expression; `limit` is in the figure's own unit (ms for latencies)."""

    expression: str
    figure: str
    op: str
    limit: float

    def holds(self, actual: float) -> bool:
        return _OPERATORS[self.op](actual, self.limit)


def parse_threshold(expression: str) -> Threshold:
    """Parse `<figure> <op> <number>[unit]`; raise ConfigError saying what is wrong."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise ConfigError(
            f"cannot read threshold {expression!r}; write it as "
            "'<figure> <op> <number>[unit]', e.g. 'socketio.latency.p95 < 100ms'"
        )
    figure, op, unit = match["figure"], match["op"], match["unit"]
    limit = float(match["value"])
    if unit in _TO_MS:
        if not is_duration_figure(figure):
            raise ConfigError(f"threshold {expression!r}: {figure} is not a duration")
        limit *= _TO_MS[unit]
    elif unit == "%":
        limit /= 100.0
    return Threshold(expression.strip(), figure, op, limit)


def evaluate(threshold: Threshold, figures: Mapping[str, float]) -> Verdict:
    """Check one threshold; an unknown or missing figure fails it, saying which exist."""
    actual = figures.get(threshold.figure)
    if actual is None:
        prefix = threshold.figure.split(".", 1)[0]
        near = sorted(name for name in figures if name.startswith(prefix))[:6]
        hint = f" (known: {', '.join(near)}, ...)" if near else ""
        message = f"no figure {threshold.figure}{hint}"
        return Verdict(
            expression=threshold.expression,
            figure=threshold.figure,
            actual=None,
            passed=False,
            message=message,
        )
    passed = threshold.holds(actual)
    unit = " ms" if is_duration_figure(threshold.figure) else ""
    word = "holds" if passed else "FAILED"
    return Verdict(
        expression=threshold.expression,
        figure=threshold.figure,
        actual=actual,
        passed=passed,
        message=f"{threshold.expression}: {word} (measured {format_number(actual)}{unit})",
    )


def judge(expressions: Iterable[str], result: BenchResult) -> list[Verdict]:
    """Each threshold checked against `result`'s figures; one on a column that could not
    connect fails, saying why."""
    verdicts = []
    for expression in expressions:
        verdict = evaluate(parse_threshold(expression), result.figures)
        group = verdict.figure.split(".", 1)[0]
        for measured in result.groups:
            if measured.name == group and measured.failed:
                message = f"{verdict.expression}: FAILED ({measured.failure})"
                verdict = verdict.model_copy(update={"passed": False, "message": message})
        verdicts.append(verdict)
    return verdicts


def parse_percentage(text: str) -> float:
    """`20%`, `20` or `0.2`-style text → a fraction (0.2)."""
    raw = text.strip().rstrip("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{text!r} is not a percentage such as 20%") from None
    fraction = value / 100.0 if text.strip().endswith("%") or value > 1 else value
    if fraction < 0:
        raise ConfigError(f"{text!r}: a regression allowance cannot be negative")
    return fraction


def format_number(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
