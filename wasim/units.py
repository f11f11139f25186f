"""Durations and rates as people write them, one rule for every command and scenario.

A duration is a number of seconds or a number with a unit: `500ms`, `.5s`, `30s`, `2m`, `1h`
(units in any case). A rate is a number per second or per unit: `200/s`, `600/min`, `50`.
"""

from __future__ import annotations

import re

from wasim.errors import ConfigError

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|m|min|h))?\s*$", re.IGNORECASE)
_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600}


def parse_duration(value: object, what: str = "a duration") -> float:
    """Seconds from a number or a text such as `500ms`, `30s`, `2m`; never negative."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a duration such as 30s or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ConfigError(f"{what} {str(value)!r} is not a duration such as 30s or 500ms")
        unit = match[2].lower() if match[2] else None
        seconds = float(match[1]) * _SECONDS[unit]
    if seconds < 0:
        raise ConfigError(f"{what} cannot be negative")
    return seconds


def parse_rate(text: str, what: str = "a rate") -> float:
    """Events per second from `200/s`, `600/min` or `50`; always positive."""
    match = _RATE.match(text)
    if match is None or float(match[1]) <= 0:
        raise ConfigError(f"{what} {text!r} is not a rate such as 200/s")
    unit = match[2].lower() if match[2] else None
    return float(match[1]) * _PER_SECOND[unit]
