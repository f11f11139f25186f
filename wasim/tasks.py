"""Ending asyncio tasks: cancel, then wait until each has really ended."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel `tasks` (None is skipped) and wait for each; an error other than the
    cancellation itself is raised."""
    for task in tasks:
        if task is not None:
            task.cancel()
    for task in tasks:
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
