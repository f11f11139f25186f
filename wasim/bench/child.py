"""A listener process of `wasim bench` (see wasim.bench.spread): one share of the clients,
driven by JSON lines on stdin, reporting NDJSON on stdout. It ends when stdin does."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from wasim.bench.measure import Sent
from wasim.bench.prepare import Prepared
from wasim.bench.scenario import Scenario
from wasim.bench.share import ClientShare, http_client
from wasim.bench.spread import LINE_LIMIT
from wasim.errors import WasimError
from wasim.faults.routes import Routes
from wasim.tasks import cancel
from wasim.workers import error_record, write_record

PROGRESS_EVERY = 0.1
LIVE_EVERY = 1.0  # seconds between the figures `wasim bench --live` shows


async def _next(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The parent's next step, or None once it has closed the pipe."""
    line = await reader.readline()
    return json.loads(line) if line.strip() else None


async def _progress(share: ClientShare, live: bool) -> None:
    reported = -1
    next_live = time.monotonic() + LIVE_EVERY
    while True:
        await asyncio.sleep(PROGRESS_EVERY)
        if live and time.monotonic() >= next_live:
            next_live += LIVE_EVERY
            reported = share.delivered
            figures = share.live().model_dump(mode="json")
            write_record({"type": "progress", "delivered": reported, "live": figures})
        elif share.delivered != reported:
            reported = share.delivered
            write_record({"type": "progress", "delivered": reported})


async def run(job: dict[str, Any], reader: asyncio.StreamReader) -> None:
    scenario = Scenario.model_validate(job["scenario"])
    prepared = Prepared.model_validate(job["prepared"])
    async with http_client() as http:
        routes = Routes.model_validate(job["routes"]) if job.get("routes") else None
        part, parts = job["part"], job["parts"]
        share = ClientShare(scenario, job["url"], prepared, http, part, parts, routes)
        try:
            await share.connect()
            write_record({"type": "ready", "clients": len(share.clients)})
            begin = await _next(reader)
            if begin is None:
                return
            share.begin(begin["start"], [Sent(*row) for row in begin["messages"]])
            progress = asyncio.create_task(_progress(share, bool(job.get("live"))))
            try:
                drain = await _next(reader)
                if drain is None:
                    return
                await share.drain(float(drain["seconds"]))
                drained: dict[str, Any] = {"type": "drained"}
                if job.get("live"):  # the live view ends at what the drain left
                    drained["live"] = share.live().model_dump(mode="json")
                write_record(drained)
                if await _next(reader) is None:
                    return
            finally:
                await cancel(progress)
            report = await share.finish()
            write_record({"type": "result", **report.model_dump(mode="json")})
        finally:
            await share.close()


async def main() -> None:
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    job = await _next(reader)
    if job is None:
        return
    try:
        await run(job, reader)
    except WasimError as exc:
        write_record(error_record(exc))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:  # SIGINT: the parent has stopped the run and reports it
        sys.exit(130)
