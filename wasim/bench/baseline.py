"""Comparing a run with an earlier one (`--baseline old.json --max-regression 20%`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from wasim.bench.results import SCHEMA, Regression
from wasim.errors import ConfigError

# Figures where a higher value is worse, and the absolute change too small to count as a
# regression (timer and scheduling noise on a shared machine).
_HIGHER_IS_WORSE = {
    "latency.p50": 1.0,
    "latency.p95": 2.0,
    "latency.p99": 5.0,
    "requests_per_user_hour": 10.0,
    "bytes_per_user_hour": 10_000.0,
}
_LOWER_IS_WORSE = {"delivery_ratio": 0.001}


def load_baseline(path: Path) -> dict[str, float]:
    """The `figures` of an earlier `wasim bench --json` output."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read baseline {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"baseline {path}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ConfigError(f"baseline {path} is not a wasim bench result ({SCHEMA})")
    figures = document.get("figures")
    if not isinstance(figures, dict):
        raise ConfigError(f"baseline {path} has no figures")
    return {
        name: float(value)
        for name, value in figures.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def compare(
    baseline: Mapping[str, float], current: Mapping[str, float], allowance: float
) -> list[Regression]:
    """Each comparable figure present in both runs; `passed` is false beyond `allowance`."""
    regressions = []
    for name in sorted(set(baseline) & set(current)):
        old, new = baseline[name], current[name]
        suffix = name.split(".", 1)[1] if "." in name else name
        if suffix in _HIGHER_IS_WORSE:
            worse_by = new - old
            noise = _HIGHER_IS_WORSE[suffix]
        elif suffix in _LOWER_IS_WORSE:
            worse_by = old - new
            noise = _LOWER_IS_WORSE[suffix]
        else:
            continue
        change = worse_by / max(abs(old), noise)
        passed = worse_by <= noise or change <= allowance
        regressions.append(
            Regression(figure=name, baseline=old, actual=new, change=change, passed=passed)
        )
    return regressions
