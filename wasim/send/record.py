"""`--record` and `--replay`: POSTs kept as JSON lines, re-sent with the very same bytes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path

from wasim.errors import ConfigError
from wasim.send.plan import Delivery, carried_in


def record(plan: Iterable[Delivery], path: Path) -> int:
    """Write each POST (headers and exact body) as one JSON line; return how many."""
    count = 0
    try:
        with path.open("w", encoding="utf-8") as out:
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
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
                count += 1
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return count


def load(path: Path, rate: float | None = None) -> list[Delivery]:
    """Read a recording; with `rate`, re-space the POSTs evenly instead of as recorded."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    plan: list[Delivery] = []
    for number, text in enumerate(filter(str.strip, lines), start=1):
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
            raise ConfigError(f"{path}:{number}: not a wasim recording line") from None
        wamids, statuses = carried_in(body)
        at = at if rate is None else len(plan) / rate
        plan.append(Delivery(body, headers, wamids, statuses, bool(line.get("duplicate")), at))
    if not plan:
        raise ConfigError(f"{path} holds no recorded POSTs")
    return plan
