"""The baseline for ratios: an ASGI app that reads the body and answers 200, nothing else."""

from __future__ import annotations

import sys
from typing import Any

import uvloop

from wasim.server import READY_PREFIX, bind_socket, serve


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


if __name__ == "__main__":
    # Served exactly as `wasim serve` serves the backend, so the ratio compares apps, not servers.
    sock = bind_socket("127.0.0.1", 0)
    uvloop.run(serve(app, sock, on_ready=lambda url: print(READY_PREFIX + url, flush=True)))
    sys.exit(0)
