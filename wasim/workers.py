"""Work in child processes: one way to start them, talk to them and carry their errors back.

One Python process uses one core, so listen and bench spread their clients over child
processes (`python -m <module>`). The parent gives a child its job as one JSON line on stdin
(more lines follow when it keeps stdin open) and reads NDJSON records from its stdout; a child
that fails sends an `error` record, raised in the parent as the same WasimError class.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from wasim import errors
from wasim.errors import WasimError
from wasim.tasks import cancel

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


class Child:
    """A child started by `spawn_child`, talked to by `send`; a task hands each of its records
    to `take` (an `error` record becomes `error`) until it ends."""

    def __init__(self, process: asyncio.subprocess.Process, name: str = "a child process") -> None:
        self.process = process
        self.name = name
        self.error: WasimError | None = None
        self.reader = asyncio.create_task(self._read())

    def take(self, kind: str, record: dict[str, Any]) -> None:
        """One record of the child's: its `type` and the rest."""

    def ended(self) -> None:
        """The child has closed its stdout and exited (or its reader was cancelled)."""

    def send(self, record: dict[str, Any]) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(json.dumps(record).encode() + b"\n")

    async def flush(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                await self.process.stdin.drain()

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            async for line in self.process.stdout:
                record = json.loads(line)
                kind = str(record.pop("type", ""))
                if kind == "error":
                    self.error = error_from(record, f"{self.name} failed")
                else:
                    self.take(kind, record)
            await self.process.wait()
        finally:
            self.ended()


async def end_children(children: Sequence[Child], finished: Sequence[Child] = ()) -> None:
    """Close the children's stdin, kill those not `finished` (they end by themselves), and
    wait for all of them and their readers."""
    for child in children:
        if child.process.stdin is not None:
            child.process.stdin.close()
        if child not in finished and child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            await child.process.wait()
        await cancel(child.reader)


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
