"""Sending from child processes: each runs `send_plan` on its share of one schedule.

One Python process tops out at one core. `SendProcesses` starts N children (`python -m
wasim.send.child`, through wasim.workers), deals each its share (of a `Recipe`, which the child
builds as it sends, or every N-th delivery of a list), starts them together at one wall-clock
instant so every POST keeps its scheduled time, and merges their reports. `wasim bench` sends
from one child: the POSTs' answers then never wait in its listeners' event loop, where they
would delay the receive timestamps (benchmarks/bench_fidelity.py).

    parent -> child   job {target, concurrency, retry, ledger}
                      plan {plan: a pickled Recipe or list of deliveries, base64}
                      start {start_at}
    child -> parent   ready | progress {sent, unreachable, error} | report {SendReport}
                      | error {error, message}
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import pickle
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wasim.errors import ConfigError, TargetError, WasimError
from wasim.send.plan import Delivery, Recipe
from wasim.send.report import SendReport
from wasim.send.retry import RetryProfile
from wasim.send.sender import OnProgress, Target
from wasim.workers import Child, end_children, spawn_child

START_MARGIN_S = 0.5  # from "every child holds its share" to the first POST
INTERRUPT_WAIT_S = 10.0  # how long an interrupted parent waits for the children's reports
# A terminal's Ctrl-C reaches the children too; a second SIGINT from the parent while a child
# is already winding down would kill it before its report, so only silent children get one.
GROUP_SIGNAL_S = 1.0
STALLED_AFTER = 3  # POSTs in a row that got no answer: the target has gone away
PROGRESS_EVERY_S = 0.1


def encode_plan(plan: Sequence[Delivery] | Recipe) -> str:
    # The child runs this same code: pickle carries a Recipe or deliveries as they are.
    return base64.b64encode(pickle.dumps(plan, pickle.HIGHEST_PROTOCOL)).decode("ascii")


def decode_plan(text: str) -> list[Delivery] | Recipe:
    plan: list[Delivery] | Recipe = pickle.loads(base64.b64decode(text))
    return plan


class _Sending(Child):
    """One sending process and what it has reported so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.ready = asyncio.Event()
        self.progress: dict[str, Any] = {}
        self.report: SendReport | None = None
        self.stopping = False  # interrupted, writing its report
        super().__init__(process, "a sending process")

    @property
    def sent(self) -> int:
        return self.report.sent if self.report is not None else int(self.progress.get("sent", 0))

    def take(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "ready":
            self.ready.set()
        elif kind == "progress":
            self.progress = record
        elif kind == "stopping":
            self.stopping = True
        elif kind == "report":
            self.report = SendReport.decode(record)

    def ended(self) -> None:
        self.ready.set()

    def failure(self) -> WasimError | None:
        """Why this child has no report, once it has ended without one."""
        if self.error is not None or self.report is not None:
            return self.error
        return TargetError(f"a sending process died (exit code {self.process.returncode})")


class SendProcesses:
    """`send_plan` in `processes` child processes, `concurrency` POSTs in flight in each.

    `open` starts the children (early, so their start-up is over before the schedule's),
    `deal` hands out the plan, `run` starts them at one instant and merges their reports;
    `close` ends whatever is left. With `ledger`, each child appends its own POSTs' lines
    there (see wasim.ledger).
    """

    def __init__(
        self,
        target: Target,
        processes: int = 1,
        *,
        concurrency: int = 256,
        retry: RetryProfile | None = None,
        ledger: Path | None = None,
    ) -> None:
        if processes < 1:
            raise ConfigError("--processes must be at least 1")
        self.job = {
            "target": dataclasses.asdict(target),
            "concurrency": concurrency,
            "retry": dataclasses.asdict(retry) if retry is not None else None,
            "ledger": str(ledger) if ledger is not None else None,
        }
        self.processes = processes
        self.children: list[_Sending] = []

    @property
    def sent(self) -> int:
        """Planned POSTs done (after their last attempt) so far, over every child."""
        return sum(child.sent for child in self.children)

    def stalled(self) -> str | None:
        """The error, once a child's last STALLED_AFTER POSTs got no answer at all."""
        for child in self.children:
            if child.progress.get("unreachable", 0) >= STALLED_AFTER:
                return str(child.progress.get("error"))
        return None

    async def open(self) -> None:
        while len(self.children) < self.processes:
            process = await spawn_child("wasim.send.child", self.job, keep_stdin=True)
            self.children.append(_Sending(process))

    async def deal(self, plan: Sequence[Delivery] | Recipe) -> None:
        """Give each child its share and return once each holds it (or raise why not)."""
        await self.open()
        count = len(self.children)
        if isinstance(plan, Recipe):
            shares: Sequence[Sequence[Delivery] | Recipe] = plan.split(count)
        else:
            shares = [plan[k::count] for k in range(count)]
        for child, share in zip(self.children, shares, strict=True):
            child.send({"type": "plan", "plan": encode_plan(share)})
            await child.flush()
        for child in self.children:
            await child.ready.wait()
            if child.reader.done() and (failure := child.failure()) is not None:
                raise failure

    async def run(
        self,
        start_at: float | None = None,
        on_progress: OnProgress | None = None,
        report: SendReport | None = None,
    ) -> SendReport:
        """Start the dealt plan at `start_at` (`time.time()`; by default in START_MARGIN_S)
        and return the merged report. `report`, when given, is filled in place; cancelled
        (Ctrl-C), the children are interrupted and what they sent is merged into it."""
        report = report if report is not None else SendReport()
        start_at = start_at if start_at is not None else time.time() + START_MARGIN_S
        for child in self.children:
            child.send({"type": "start", "start_at": start_at})
            await child.flush()
        readers = {child.reader for child in self.children}
        try:
            while readers:
                if on_progress is not None:
                    on_progress(self.sent)
                _, readers = await asyncio.wait(readers, timeout=PROGRESS_EVERY_S)
        except asyncio.CancelledError:
            # Collecting the children's reports takes a moment: a second Ctrl-C must not cut
            # it short with a traceback.
            with contextlib.suppress(ValueError):  # not the main thread: nothing to protect
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            readers = {child.reader for child in self.children}
            await asyncio.wait(readers, timeout=GROUP_SIGNAL_S)
            for child in self.children:
                if child.process.returncode is None and not child.stopping:
                    with contextlib.suppress(ProcessLookupError):
                        child.process.send_signal(signal.SIGINT)
            await asyncio.wait(readers, timeout=INTERRUPT_WAIT_S)
            report.interrupted = True
            self._merge(report)
            raise
        for child in self.children:
            await child.process.wait()
            if (failure := child.failure()) is not None:
                raise failure
        self._merge(report)
        if on_progress is not None:
            on_progress(report.sent)
        return report

    def _merge(self, report: SendReport) -> None:
        for child in self.children:
            if child.report is not None:
                report.merge(child.report)

    async def close(self) -> None:
        """End the children: those that reported by themselves, any other killed."""
        await end_children(self.children, [c for c in self.children if c.reader.done()])
        self.children = []


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
    """Send `plan` from `processes` child processes (see `SendProcesses`)."""
    fleet = SendProcesses(target, processes, concurrency=concurrency, retry=retry, ledger=ledger)
    try:
        await fleet.deal(plan)
        return await fleet.run(on_progress=on_progress, report=report)
    finally:
        await fleet.close()
