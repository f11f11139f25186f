"""`--record` and `--replay`: POSTs kept as JSON lines, re-sent with the very same bytes."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from wasim.errors import ConfigError
from wasim.send.plan import Delivery, ids_in_body


def record(plan: Iterable[Delivery], path: Path) -> int:
    """Write each POST (headers and exact body) as one JSON line; return how many."""
    with Recorder(path) as recorder:
        for _ in recorder.through(plan):
            pass
    return recorder.count


class Recorder:
    """Writes POSTs to a recording as they pass through `through`, so a run of any length is
    recorded while it is sent, without being held in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        try:
            self._out = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}") from None

    def through(self, plan: Iterable[Delivery]) -> Iterator[Delivery]:
        for delivery in plan:
            line = {
                "at": delivery.at,
                "headers": dict(delivery.headers),
                "duplicate": delivery.duplicate,
            }
            try:
                line["body"] = delivery.body.decode("utf-8")
            except UnicodeDecodeError:
                line["body_b64"] = base64.b64encode(delivery.body).decode("ascii")
            try:
                self._out.write(json.dumps(line, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise ConfigError(f"cannot write {self.path}: {exc.strerror}") from None
            self.count += 1
            yield delivery

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def load(path: Path, rate: float | None = None) -> list[Delivery]:
    """Read a recording; with `rate`, re-space the POSTs evenly instead of as recorded."""
    return list(replayed(path, rate))


def replayed(path: Path, rate: float | None = None) -> Iterator[Delivery]:
    """A recording's POSTs one at a time (a file of any size); with `rate`, re-spaced evenly.

    The file is opened and its first line read at once, so a missing or empty recording is
    an error here rather than once the schedule has started.
    """
    try:
        source = path.open(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    lines = (line for line in source if line.strip())
    first = next(lines, None)
    if first is None:
        source.close()
        raise ConfigError(f"{path} holds no recorded POSTs")
    return _deliveries(path, source, itertools.chain([first], lines), rate)


def _deliveries(
    path: Path, source: IO[str], lines: Iterator[str], rate: float | None
) -> Iterator[Delivery]:
    with source:
        for number, text in enumerate(lines):
            try:
                line = json.loads(text)
                body = (
                    line["body"].encode("utf-8")
                    if "body" in line
                    else base64.b64decode(line["body_b64"], validate=True)
                )
                headers = {str(k): str(v) for k, v in line["headers"].items()}
                at = float(line.get("at", 0.0))
            except (ValueError, KeyError, TypeError, AttributeError):
                raise ConfigError(f"{path}:{number + 1}: not a wasim recording line") from None
            wamids, statuses = ids_in_body(body)
            at = at if rate is None else number / rate
            yield Delivery(body, headers, wamids, statuses, bool(line.get("duplicate")), at)
