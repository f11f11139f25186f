"""`python -m wasim.bench.sendproc`: the webhook sender of a bench run, in its own process.

Reads one JSON job on stdin (see `ProcessSender`), writes one JSON line per POST on stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys

from wasim.bench.traffic import send_job

if __name__ == "__main__":
    try:
        job = sys.stdin.read()
        if job.strip():  # nothing when the run ended before its traffic started
            asyncio.run(send_job(json.loads(job)))
    except KeyboardInterrupt:  # SIGINT: the parent has stopped the run and reports it
        sys.exit(130)
