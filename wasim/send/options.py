"""`wasim send`'s values as typed: rates, durations and `--set` overrides, checked up front."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from wasim.correlate import leaf_keys
from wasim.errors import ConfigError
from wasim.payloads import PayloadFactory, Shape
from wasim.payloads.model import CREATE, has_path

_RATE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|m|min|h))?\s*$")
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*$")
_PER_SECOND = {None: 1.0, "s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600}
_SECONDS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """`200/s`, `600/min`, `50` → POSTs per second."""
    match = _RATE.match(text)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"--rate {text!r} is not a rate like 200/s")
    return float(match[1]) * _PER_SECOND[match[2]]


def parse_duration(text: str) -> float:
    """`30s`, `2m`, `500ms`, `10` → seconds."""
    match = _DURATION.match(text)
    if not match or float(match[1]) <= 0:
        raise ConfigError(f"--duration {text!r} is not a duration like 30s")
    return float(match[1]) * _SECONDS[match[2]]


def parse_sets(items: Sequence[str]) -> dict[str, object]:
    """`PATH=VALUE` pairs; VALUE is JSON when it parses (numbers, true, null), else text.

    A PATH must name a field the payload has (`text.body`, `timestamp`); `+PATH` adds one.
    """
    sets: dict[str, object] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not path.removeprefix(CREATE):
            raise ConfigError(f"--set {item!r} must look like path.to.field=value")
        try:
            sets[path] = json.loads(raw)
        except ValueError:
            sets[path] = raw
    return sets


def check_sets(sets: Mapping[str, object], mix: Mapping[str, float], shape: Shape) -> None:
    """Raise ConfigError for a `--set` path that no kind of the mix has (a typo would
    otherwise add a field silently); `+path` is always allowed."""
    wanted = [path for path in sets if not path.startswith(CREATE)]
    if not wanted:
        return
    samples = {}
    for kind in mix:
        factory = PayloadFactory(
            seed=0, shape=shape
        )  # a scratch draw: the plan's seed is untouched
        samples[kind] = [u.item for u in factory.updates(kind)]
    for path in wanted:
        if any(has_path(item, path) for items in samples.values() for item in items):
            continue
        items = next(iter(samples.values()))
        fields = ", ".join(leaf_keys(items[0], limit=16))
        raise ConfigError(
            f"--set {path}: no such field in {' or '.join(samples)} (it has {fields}); "
            f"--set {CREATE}{path}=… adds it"
        )
