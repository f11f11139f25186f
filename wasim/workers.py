"""Work in child processes: one way to start them, talk to them and carry their errors back.

One Python process uses one core, so listen and bench spread their clients over child
processes (`python -m <module>`). The parent gives a child its job as one JSON line on stdin
(more lines follow when it keeps stdin open) and reads NDJSON records from its stdout; a child
that fails sends an `error` record, raised in the parent as the same WasimError class.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

from wasim import errors
from wasim.errors import WasimError

T = TypeVar("T")
CLIENTS_PER_PROCESS = 1000  # one process holds this many comfortably (benchmarks/listen.py)


def default_processes(clients: int, cores: int | None = None) -> int:
    """One process per `CLIENTS_PER_PROCESS` clients, at most one per core."""
    cores = cores or os.cpu_count() or 1
    return max(1, min(math.ceil(clients / CLIENTS_PER_PROCESS), cores))


async def spawn_child(
    module: str, job: dict[str, Any], *, keep_stdin: bool = False, limit: int = 1 << 22
) -> asyncio.subprocess.Process:
    """Start `python -m module` in its own session and give it `job` as one JSON line on
    stdin, then close stdin (unless `keep_stdin`, for more lines); its stdout is NDJSON."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=limit,
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(job).encode() + b"\n")
    await child.stdin.drain()
    if not keep_stdin:
        child.stdin.close()
    return child


def write_record(record: dict[str, Any]) -> None:
    """A child's side of the pipe: one record as a JSON line on stdout, flushed."""
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


def error_record(exc: WasimError) -> dict[str, Any]:
    return {"type": "error", "error": type(exc).__name__, "message": str(exc)}


def error_from(record: dict[str, Any], default: str = "a child process failed") -> WasimError:
    """The parent's side of `error_record`: the same exception class, with its message."""
    cls = getattr(errors, str(record.get("error")), None)
    if not (isinstance(cls, type) and issubclass(cls, WasimError)):
        cls = WasimError
    return cls(record.get("message", default))


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """Run a child's `coro` on uvloop when it is installed (it is not on Windows)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
