"""A bench run's clients spread over listener processes (`python -m wasim.bench.child`).

The pipe is every child's (wasim.workers): a child gets its job as one JSON line on stdin and
reports NDJSON on stdout. A bench child keeps stdin open for the run's
next steps, so every process measures against the same schedule and the same window:

    parent -> child   job {scenario, url, routes, prepared, part, parts}
                      begin {start, messages: [[wamid, user, scheduled_at, measured, phone,
                                                marker]]}
                      drain {seconds}
                      finish
    child -> parent   ready {clients} | progress {delivered} | drained | result {ShareReport}
                      | error {error, message}
                      (progress and drained carry {live} figures too with --live)

The webhook sender stays in its own process (wasim.send.fleet); the parent fixes the start once
every child is connected and hands each the whole schedule, so no send time is relayed live.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wasim.bench.live import LiveShare
from wasim.bench.measure import Sent
from wasim.bench.prepare import Prepared
from wasim.bench.scenario import Scenario
from wasim.bench.share import ShareReport, process_name
from wasim.errors import TargetError
from wasim.faults.routes import Routes
from wasim.workers import Child, end_children, spawn_child

LINE_LIMIT = 1 << 26  # a child's result holds per-user costs and histograms of every group
STEPS = ("ready", "drained", "result")
CONNECT_TIMEOUT = 120.0


class _Listening(Child):
    """One listener process and what it has reported so far."""

    def __init__(self, process: asyncio.subprocess.Process, name: str) -> None:
        self.delivered = 0
        self.clients = 0
        self.report: ShareReport | None = None
        self.live: LiveShare | None = None
        self.steps = {step: asyncio.Event() for step in STEPS}
        super().__init__(process, name)

    async def reached(self, step: str) -> None:
        """Return once the child has reported `step`; raise what it failed with instead."""
        await self.steps[step].wait()
        if self.error is not None:
            raise self.error

    def take(self, kind: str, record: dict[str, Any]) -> None:
        if "live" in record:
            self.live = LiveShare.model_validate(record["live"])
        if kind == "progress":
            self.delivered = int(record["delivered"])
        elif kind in self.steps:
            if kind == "ready":
                self.clients = int(record["clients"])
            if kind == "result":
                self.report = ShareReport.model_validate(record)
            self.steps[kind].set()

    def ended(self) -> None:
        if self.report is None and self.error is None:
            code = self.process.returncode
            self.error = TargetError(f"{self.name} exited (code {code}) before its results")
        for event in self.steps.values():
            event.set()


class ChildProcesses:
    """The clients over `processes` children, each a `ClientShare` on its own event loop."""

    def __init__(
        self,
        scenario: Scenario,
        base_url: str,
        prepared: Prepared,
        processes: int,
        routes: Routes | None = None,
        live: bool = False,
    ) -> None:
        self.live_figures = live  # children report their figures each second (--live)
        self.scenario = scenario
        self.base_url = base_url
        self.routes = routes
        self.prepared = prepared
        self.processes = processes
        self.children: list[_Listening] = []

    @property
    def delivered(self) -> int:
        return sum(child.delivered for child in self.children)

    def live(self) -> list[LiveShare]:
        return [child.live for child in self.children if child.live is not None]

    async def connect(self) -> None:
        job = {
            "scenario": self.scenario.model_dump(mode="json"),
            "url": self.base_url,
            "routes": self.routes.model_dump() if self.routes is not None else None,
            "prepared": self.prepared.model_dump(mode="json"),
            "parts": self.processes,
            "live": self.live_figures,
        }
        for part in range(self.processes):
            process = await spawn_child(
                "wasim.bench.child", {**job, "part": part}, keep_stdin=True, limit=LINE_LIMIT
            )
            self.children.append(_Listening(process, process_name(part, self.processes)))
        await self._all("ready", CONNECT_TIMEOUT)

    async def begin(self, start: float, messages: list[Sent]) -> None:
        rows = [[s.wamid, s.user, s.scheduled_at, s.measured, s.phone, s.marker] for s in messages]
        self._send({"type": "begin", "start": start, "messages": rows})
        await self._flush()

    async def drain(self, seconds: float) -> None:
        self._send({"type": "drain", "seconds": seconds})
        await self._flush()
        await self._all("drained", seconds + 30.0)

    async def finish(self) -> list[ShareReport]:
        self._send({"type": "finish"})
        await self._flush()
        await self._all("result", 60.0)
        reports = [child.report for child in self.children if child.report is not None]
        await self.close()
        return reports

    async def close(self) -> None:
        """Let children that reported end by themselves; kill any other."""
        await end_children(self.children, [c for c in self.children if c.report is not None])

    def _send(self, record: dict[str, Any]) -> None:
        for child in self.children:
            child.send(record)

    async def _flush(self) -> None:
        for child in self.children:
            await child.flush()

    async def _all(self, step: str, timeout: float) -> None:
        """Wait until every child reports `step`; the first failure or the timeout raises."""
        waits = {asyncio.create_task(child.reached(step)) for child in self.children}
        deadline = time.monotonic() + timeout
        try:
            while waits:
                done, waits = await asyncio.wait(
                    waits,
                    timeout=max(deadline - time.monotonic(), 0.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:
                    late = [c.name for c in self.children if not c.steps[step].is_set()]
                    raise TargetError(f"{', '.join(late)} did not report {step} in {timeout:g} s")
                for task in done:
                    task.result()
        finally:
            for task in waits:
                task.cancel()
