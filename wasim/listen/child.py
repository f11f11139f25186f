"""A listener process of `wasim listen --processes N`: its share on stdin, NDJSON on stdout."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from wasim.errors import WasimError
from wasim.listen.processes import decode_options
from wasim.listen.runner import ListenOptions, listen
from wasim.workers import error_record, write_record

if TYPE_CHECKING:
    from wasim.bench.live import LiveShare

emit = write_record


def _figures(options: ListenOptions) -> Callable[[LiveShare], None] | None:
    """The parent asked for live figures (wasim.listen.figures): a `figures` record each."""
    if not options.figures:
        return None
    return lambda share: emit({"type": "figures", **share.model_dump(mode="json")})


async def main() -> None:
    options = decode_options(json.loads(sys.stdin.read()))
    try:
        summary = await listen(options, emit, handle_signals=True, on_share=_figures(options))
    except WasimError as exc:
        emit(error_record(exc))
        return
    emit({"type": "summary", **summary.model_dump(mode="json")})


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # SIGINT before its handler was in place: nothing to report
        sys.exit(130)
