"""`wasim send`'s `--set` overrides, checked up front (rates and durations: wasim.units)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from wasim.correlate import leaf_keys
from wasim.errors import ConfigError
from wasim.payloads import PayloadFactory, Shape
from wasim.payloads.model import CREATE, has_path


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
    # Scratch draws: the plan's seed is untouched.
    samples = {k: [u.item for u in PayloadFactory(seed=0, shape=shape).updates(k)] for k in mix}
    for path in wanted:
        if any(has_path(item, path) for items in samples.values() for item in items):
            continue
        items = next(iter(samples.values()))
        fields = ", ".join(leaf_keys(items[0], limit=16))
        raise ConfigError(
            f"--set {path}: no such field in {' or '.join(samples)} (it has {fields}); "
            f"--set {CREATE}{path}=… adds it"
        )
