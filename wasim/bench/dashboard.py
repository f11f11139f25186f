"""The live dashboard of `wasim bench --live`: a page and its JSON, served from a thread.

The runner hands it a `LiveSnapshot` once a second; the page asks for the latest one once a
second. It is served by uvicorn in a background thread (`wasim.server.ServerThread`), so the
listeners' event loop does no HTTP for it; what it costs the measurement is in
benchmarks/bench_fidelity.py (`--live`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from wasim.bench.live import LiveSnapshot, final_snapshot
from wasim.bench.results import BenchResult
from wasim.server import ServerThread

PAGE = Path(__file__).parent / "static" / "live.html"


class Dashboard:
    """`with Dashboard() as board:` serves on a free port of `host`; `board.url` is its address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.snapshot: LiveSnapshot | None = None
        self.final_read = threading.Event()
        app = Starlette(
            routes=[Route("/", self._page), Route("/live.json", self._json)],
        )
        self.server = ServerThread(app, host=host, port=port)

    @property
    def url(self) -> str:
        return self.server.url + "/"

    def update(self, snapshot: LiveSnapshot) -> None:
        self.snapshot = snapshot

    def finish(self, result: BenchResult, linger: float = 2.0) -> None:
        """Show the run's own figures; give a page that is watching `linger` s to read them."""
        self.snapshot = final_snapshot(result, self.snapshot)
        if self.watched:
            self.final_read.wait(linger)

    @property
    def watched(self) -> bool:
        return self._asked_at > 0 and time.monotonic() - self._asked_at < 5.0

    _asked_at = 0.0

    async def _page(self, request: Request) -> Response:
        return FileResponse(PAGE, headers={"Cache-Control": "no-cache"})

    async def _json(self, request: Request) -> Response:
        self._asked_at = time.monotonic()
        snapshot = self.snapshot
        if snapshot is not None and snapshot.final:
            self.final_read.set()
        body = (  # the page shows percentiles; the merged histograms are for --metrics-port
            snapshot.model_dump(mode="json", exclude={"groups": {"__all__": {"histogram"}}})
            if snapshot is not None
            else {"phase": "starting"}
        )
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def __enter__(self) -> Dashboard:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
