"""Small test helpers: waiting on a condition (never a bare sleep), signing like Meta, and a
plain receiver that records what arrives."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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


@dataclass
class Receiver:
    """What a plain receiver got: raw bodies, their signature headers and paths, in order."""

    url: str = ""
    fail_first: int = 0  # answer 500 to this many POSTs first
    status: int = 200  # then answer this
    bodies: list[bytes] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


@contextmanager
def plain_receiver() -> Iterator[Receiver]:
    """A webhook endpoint at any path that keeps every raw body, served on a free port."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from wasim.server import ServerThread

    state = Receiver()

    async def webhook(request: Request) -> Response:
        state.bodies.append(await request.body())
        state.signatures.append(request.headers.get("x-hub-signature-256", ""))
        state.paths.append(request.url.path)
        failing = len(state.bodies) <= state.fail_first
        return Response(status_code=500 if failing else state.status)

    app = Starlette(routes=[Route("/{path:path}", webhook, methods=["POST"])])
    with ServerThread(app) as server:
        state.url = server.url
        yield state
