"""A listener process of `wasim listen --processes N`: its share on stdin, NDJSON on stdout."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from wasim.errors import WasimError
from wasim.listen.processes import decode_options
from wasim.listen.runner import listen


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


async def main() -> None:
    options = decode_options(json.loads(sys.stdin.read()))
    try:
        summary = await listen(options, emit, handle_signals=True)
    except WasimError as exc:
        emit({"type": "error", "error": type(exc).__name__, "message": str(exc)})
        return
    emit({"type": "summary", **summary.as_dict()})


if __name__ == "__main__":
    asyncio.run(main())
