"""One schedule over several processes: each sends every N-th POST at the same instants.

One Python process tops out at one core. With `processes=N` the plan is dealt round-robin to
N children (or, from a `Recipe`, each child builds its own N-th of it), which start together at
one wall-clock instant, keep every POST's scheduled time, and send back their reports
(histograms encoded), merged here into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Coroutine, Sequence
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for_pipes
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, TypeVar

from wasim.errors import ConfigError, TargetError
from wasim.ledger import LedgerWriter
from wasim.send.plan import Delivery, Recipe
from wasim.send.report import SendReport
from wasim.send.retry import RetryProfile
from wasim.send.sender import OnProgress, Target, send_plan

T = TypeVar("T")
START_MARGIN_S = 0.5  # from "every child holds its share" to the first POST
GROUP_SIGNAL_S = 1.0  # how long the children may take to answer a Ctrl-C they got themselves
INTERRUPT_WAIT_S = 5.0  # how long an interrupted parent waits for the children's reports
_POLL_S = 0.05


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on uvloop when it is installed (it is not on Windows), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


async def send_split(
    target: Target,
    plan: Sequence[Delivery] | Recipe,
    processes: int,
    *,
    concurrency: int = 256,
    retry: RetryProfile | None = None,
    on_progress: OnProgress | None = None,
    ledger: Path | None = None,
    report: SendReport | None = None,
) -> SendReport:
    """Send `plan` from `processes` child processes, `concurrency` POSTs in flight in each.

    `plan` is a list of deliveries, dealt round-robin and shipped to the children, or a
    `Recipe`, split into one share per child, each built by its own builder process as it is
    sent (memory stays flat at any rate and duration). With `ledger`, each child appends its
    own POSTs' lines there (see wasim.ledger). `report`, when given, is filled in place; when
    the run is cancelled (Ctrl-C) the children are interrupted too and their reports of what
    they sent merged into it.
    """
    if processes < 1:
        raise ConfigError("--processes must be at least 1")
    report = report if report is not None else SendReport()
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
    collected: set[int] = set()
    try:
        if isinstance(plan, Recipe):
            shares: list[Recipe] | list[list[Delivery]] = plan.split(processes)
        else:
            shares = [list(plan[k::processes]) for k in range(processes)]
        for share, (_, pipe, _) in zip(shares, children, strict=True):
            pipe.send(share)
        for _, pipe, _ in children:
            await _receive(pipe)  # "ready": the share arrived and was unpickled
        start_at = time.time() + START_MARGIN_S
        for _, pipe, _ in children:
            pipe.send(start_at)
        for k, (process, pipe, _) in enumerate(children):
            while not pipe.poll():
                if on_progress is not None:
                    on_progress(sum(int(done.value) for _, _, done in children))
                if not process.is_alive() and not pipe.poll():
                    raise TargetError(f"a sending process died (exit code {process.exitcode})")
                await asyncio.sleep(_POLL_S)
            report.merge(SendReport.decode(await _receive(pipe)))
            collected.add(k)
        if on_progress is not None:
            on_progress(report.sent)
        return report
    except asyncio.CancelledError:
        # Collecting the children's reports takes a moment: a second Ctrl-C must not cut it
        # short with a traceback (the children do the same).
        with contextlib.suppress(ValueError):  # not the main thread: nothing to protect
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        _interrupt([c for k, c in enumerate(children) if k not in collected], report)
        raise
    finally:
        for process, pipe, _ in children:
            pipe.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


def _interrupt(children: list[tuple[Any, Connection, Any]], report: SendReport) -> None:
    """Interrupt the children still sending and merge the reports they send back."""
    report.interrupted = True
    # A terminal's Ctrl-C reached the children too (one process group) and they are reporting;
    # a second SIGINT would make asyncio raise KeyboardInterrupt anywhere in them. So only the
    # children still silent after a moment (the parent alone was signalled) are interrupted.
    pending = [pipe for _, pipe, _ in children]
    settle = time.monotonic() + GROUP_SIGNAL_S
    while pending and (left := settle - time.monotonic()) > 0:
        answered = wait_for_pipes(pending, timeout=left)
        pending = [pipe for pipe in pending if pipe not in answered]
    for process, pipe, _ in children:
        if process.is_alive() and not pipe.poll() and os.name == "posix":
            os.kill(process.pid, signal.SIGINT)
    deadline = time.monotonic() + INTERRUPT_WAIT_S
    for _, pipe, _ in children:
        try:
            if pipe.poll(max(deadline - time.monotonic(), 0.0)):
                message = pipe.recv()
                if isinstance(message, dict):
                    report.merge(SendReport.decode(message))
        except (EOFError, OSError):
            continue


async def _receive(pipe: Connection) -> Any:
    while not pipe.poll():
        await asyncio.sleep(_POLL_S)
    message = pipe.recv()
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
    writer = LedgerWriter(ledger, announce=False) if ledger is not None else None
    report = SendReport()
    try:
        plan: list[Delivery] | Recipe = pipe.recv()
        pipe.send("ready")
        start_at: float = pipe.recv()

        def progress(count: int) -> None:
            done.value = count

        run_fast(
            send_plan(
                target,
                plan,
                concurrency=concurrency,
                retry=retry,
                on_progress=progress,
                start_at=start_at,
                ledger=writer,
                report=report,
            )
        )
        pipe.send(report.encode())
    except KeyboardInterrupt:
        # The parent asked (or the terminal's Ctrl-C reached the whole group): report what
        # was sent, undisturbed by a second Ctrl-C.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        report.interrupted = True
        pipe.send(report.encode())
    except Exception as exc:  # shipped to the parent, which raises it
        pipe.send(TargetError(f"a sending process failed: {exc}"))
    finally:
        if writer is not None:
            writer.close()
        pipe.close()
