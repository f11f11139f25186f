"""One schedule over several processes: each sends every N-th POST at the same instants.

One Python process tops out at one core. With `processes=N` the plan is dealt round-robin to
N children, which start together at one wall-clock instant, keep every POST's scheduled time,
and send back their reports (histograms encoded), merged here into one. Ctrl-C is this
process's alone: the children ignore SIGINT, and `stop` reaches them as a word on their pipe,
which ends each one's sending early with the report of what it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import time
from collections.abc import Coroutine, Sequence
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, TypeVar

from wasim.errors import ConfigError, TargetError
from wasim.ledger import LedgerWriter
from wasim.send.plan import Delivery
from wasim.send.report import SendReport
from wasim.send.retry import RetryProfile
from wasim.send.sender import OnProgress, Target, send_plan

T = TypeVar("T")
START_MARGIN_S = 0.5  # from "every child holds its share" to the first POST
_POLL_S = 0.05
_STOP = "stop"  # the parent's word to a child: Ctrl-C, end the schedule now


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop when it is installed (it is not on Windows), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def send_split(
    target: Target,
    plan: Sequence[Delivery],
    processes: int,
    *,
    concurrency: int = 256,
    retry: RetryProfile | None = None,
    on_progress: OnProgress | None = None,
    ledger: Path | None = None,
    stop: asyncio.Event | None = None,
) -> SendReport:
    """Send `plan` from `processes` child processes, `concurrency` POSTs in flight in each.

    With `ledger`, each child appends its own POSTs' lines there (see wasim.ledger). Setting
    `stop` ends the sending early with the report of what was sent.
    """
    stop = stop or asyncio.Event()
    if processes < 1:
        raise ConfigError("--processes must be at least 1")
    context = multiprocessing.get_context("spawn")  # no fork of a running event loop
    children = []
    for _ in range(processes):
        ours, theirs = context.Pipe()
        done = context.Value("q", 0, lock=False)
        process = context.Process(
            target=_child, args=(target, concurrency, retry, theirs, done, ledger), daemon=True
        )
        process.start()
        theirs.close()
        children.append((process, ours, done))
    try:
        for k, (_, pipe, _) in enumerate(children):
            pipe.send(list(plan[k::processes]))
        for _, pipe, _ in children:
            if await _receive(pipe, stop) is None:  # "ready": the share arrived and was unpickled
                return SendReport(planned=len(plan))  # stopped before the schedule began
        start_at = time.time() + START_MARGIN_S
        for _, pipe, _ in children:
            pipe.send(start_at)
        report = SendReport()
        told = False
        for process, pipe, _ in children:
            while not pipe.poll():
                if stop.is_set() and not told:
                    told = True
                    for _, other, _ in children:
                        with contextlib.suppress(OSError):
                            other.send(_STOP)
                if on_progress is not None:
                    on_progress(sum(int(done.value) for _, _, done in children))
                if not process.is_alive() and not pipe.poll():
                    raise TargetError(f"a sending process died (exit code {process.exitcode})")
                await asyncio.sleep(_POLL_S)
            report.merge(SendReport.decode(await _receive(pipe)))
        if on_progress is not None:
            on_progress(report.sent)
        return report
    finally:
        for process, pipe, _ in children:
            pipe.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


async def _receive(pipe: Connection, stop: asyncio.Event | None = None) -> Any:
    """The child's next message; None if `stop` is set first."""
    while not pipe.poll():
        if stop is not None and stop.is_set():
            return None
        await asyncio.sleep(_POLL_S)
    try:
        message = pipe.recv()
    except (EOFError, OSError):
        raise TargetError("a sending process died before its report") from None
    if isinstance(message, BaseException):
        raise message
    return message


def _child(
    target: Target,
    concurrency: int,
    retry: RetryProfile | None,
    pipe: Connection,
    done: Synchronized[int],
    ledger: Path | None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and says stop
    writer = LedgerWriter(ledger, announce=False) if ledger is not None else None
    try:
        share: list[Delivery] = pipe.recv()
        pipe.send("ready")
        start_at: float = pipe.recv()

        def progress(count: int) -> None:
            done.value = count

        report = run_fast(
            _send_share(
                pipe,
                target,
                share,
                concurrency=concurrency,
                retry=retry,
                on_progress=progress,
                start_at=start_at,
                ledger=writer,
            )
        )
        pipe.send(report.encode())
    except (EOFError, BrokenPipeError):  # the parent stopped before this child's schedule
        pass
    except Exception as exc:  # shipped to the parent, which raises it
        pipe.send(TargetError(f"a sending process failed: {exc}"))
    finally:
        if writer is not None:
            writer.close()
        pipe.close()


async def _send_share(
    pipe: Connection, target: Target, share: list[Delivery], **options: Any
) -> SendReport:
    """A child's schedule (`send_plan`), stopped early by any word from the parent on `pipe`
    (or by its end)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    fd = pipe.fileno()

    def heard() -> None:
        loop.remove_reader(fd)
        stop.set()

    with contextlib.suppress(NotImplementedError):  # no add_reader on Windows' event loop
        loop.add_reader(fd, heard)
    try:
        return await send_plan(target, share, **options, stop=stop)
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_reader(fd)
