"""Small test helpers: waiting on a condition (never a bare sleep), signing like Meta."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable

from wasim import defaults

# .ci/run sets this: there a missing PostgreSQL, Redis or Node.js is a failure, not a skip.
REQUIRE_SERVICES = os.environ.get("WASIM_REQUIRE_SERVICES") == "1"


async def wait_for(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Return once `predicate()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def sign(body: bytes, secret: str = defaults.APP_SECRET) -> str:
    """X-Hub-Signature-256 computed here, independently of wasim's own signing code."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
