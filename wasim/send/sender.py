"""The open-model sender: every POST starts on its scheduled time, answered or not."""

from __future__ import annotations

import asyncio
import gc
import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wasim import defaults
from wasim.errors import ConfigError, TargetError
from wasim.ledger import LedgerWriter
from wasim.send.plan import Delivery
from wasim.send.report import SendReport, SendResult
from wasim.send.retry import RetryProfile, retry_profile
from wasim.send.wire import Wire, WireError

OnResult = Callable[[SendResult], None]
OnProgress = Callable[[int], None]
PROGRESS_EVERY_S = 0.1
_UNSTARTED = -math.inf  # a POST's start time until it starts (a timer may fire a bit early)


@dataclass(frozen=True)
class Target:
    """Where webhooks go and the secret that signs them."""

    url: str = defaults.BASE_URL
    app_secret: str = defaults.APP_SECRET
    webhook_path: str = defaults.WEBHOOK_PATH
    timeout: float = 10.0
    verify_token: str = defaults.VERIFY_TOKEN

    @property
    def endpoint(self) -> str:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"target URL must start with http:// or https://: {self.url!r}")
        return self.url.rstrip("/") + "/" + self.webhook_path.lstrip("/")


async def send_plan(
    target: Target,
    plan: Sequence[Delivery],
    *,
    concurrency: int = 256,
    retry: RetryProfile | None = None,
    on_result: OnResult | None = None,
    on_progress: OnProgress | None = None,
    start_at: float | None = None,
    ledger: LedgerWriter | None = None,
    stop: asyncio.Event | None = None,
) -> SendReport:
    """Send `plan` on its schedule (open model) and return the run's report.

    `on_result` gets every POST after its last attempt; `on_progress` gets the number done,
    every 0.1 s. `start_at` (a `time.time()` value) starts the schedule at that instant, which
    lets several processes share one schedule. `ledger` gets each POST's ids and times as it
    starts, written out every 0.1 s and at the end. Setting `stop` (on Ctrl-C) ends the run
    early: POSTs still unanswered are dropped, and the report covers the others.
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    runner = _Runner(target, plan, retry or retry_profile("none"), on_result, ledger)
    return await runner.run(concurrency, on_progress, start_at, stop)


class _Runner:
    """`concurrency` workers take POSTs in order of due time; a busy worker is a POST in flight.

    Everything a POST needs is built before the schedule starts, and the hot path allocates
    only a tuple per attempt; lag and latency go into histograms after the run.
    """

    def __init__(
        self,
        target: Target,
        plan: Sequence[Delivery],
        retry: RetryProfile,
        on_result: OnResult | None,
        ledger: LedgerWriter | None = None,
    ) -> None:
        self.wire = Wire(target.endpoint, target.timeout)
        self.plan = plan
        self.retry = retry
        self.on_result = on_result
        self.report = SendReport(planned=len(plan))
        self.requests = [self.wire.request(d.body, d.headers) for d in plan]
        self.due = [d.at for d in plan]
        self.order = deque(sorted(range(len(plan)), key=self.due.__getitem__))
        self.retries: list[tuple[float, int, int]] = []  # (due, index, attempt), a heap
        self.started = [_UNSTARTED] * len(plan)  # seconds after t0, first attempt
        self.answered = [-1.0] * len(plan)  # first attempt's answer, -1 when none
        self.t0 = 0.0
        self.ledger = ledger
        self.begun: list[int] = []  # first attempts started since the ledger's last flush

    async def run(
        self,
        concurrency: int,
        on_progress: OnProgress | None,
        start_at: float | None,
        stop: asyncio.Event | None = None,
    ) -> SendReport:
        # The plan is long-lived: keep the collector from rescanning it mid-run, where its
        # pauses would show up as schedule lag.
        gc.collect()
        gc.freeze()
        ticker = None
        try:
            self.t0 = time.perf_counter() + max((start_at or 0.0) - time.time(), 0.0)
            self.wall0 = time.time() + (self.t0 - time.perf_counter())
            if on_progress is not None or self.ledger is not None:
                ticker = asyncio.create_task(self._tick(on_progress))
            workers = min(concurrency, len(self.plan))
            await _unless_stopped(asyncio.gather(*(self._work() for _ in range(workers))), stop)
            self.report.elapsed = time.perf_counter() - self.t0
        finally:
            if ticker is not None:
                ticker.cancel()
            self.wire.close()
            gc.unfreeze()
            self._note()
        if on_progress is not None:
            on_progress(self.report.sent)
        self._record_times()
        return self.report

    async def _work(self) -> None:
        clock, t0, due = time.perf_counter, self.t0, self.due
        begun = self.begun.append if self.ledger is not None else None
        while (item := self._next()) is not None:
            at, index, attempt = item
            wait = t0 + at - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            started = clock() - t0
            if attempt == 1:
                self.started[index] = started
                if begun is not None:
                    begun(index)
            status, error = await self._post(index)
            if attempt == 1 and status is not None:
                self.answered[index] = clock() - t0
            if status != 200 and attempt < self.retry.max_attempts:
                delay = self.retry.delays[attempt - 1]
                heapq.heappush(self.retries, (clock() - t0 + delay, index, attempt + 1))
                continue
            self.report.tally(status, error, attempt, self.plan[index].duplicate)
            if self.on_result is not None:
                self.on_result(self._result(index, attempt, status, error, due[index]))

    def _next(self) -> tuple[float, int, int] | None:
        # A retry goes first once it is due no later than the next planned POST.
        if self.retries and (not self.order or self.retries[0][0] <= self.due[self.order[0]]):
            return heapq.heappop(self.retries)
        if self.order:
            index = self.order.popleft()
            return self.due[index], index, 1
        return None

    async def _post(self, index: int) -> tuple[int | None, str | None]:
        try:
            return await self.wire.post(self.requests[index]), None
        except TimeoutError:
            return None, "timeout"
        except WireError as exc:
            return None, str(exc)

    async def _tick(self, on_progress: OnProgress | None) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            self._note()
            if on_progress is not None:
                on_progress(self.report.sent)

    def _note(self) -> None:
        # Off the hot path: workers only append an index; lines are built here, every 0.1 s.
        if self.ledger is None:
            return
        fresh = self.begun[:]
        self.begun.clear()  # the same list: workers hold its `append`
        wall0, due, started, plan = self.wall0, self.due, self.started, self.plan
        for index in fresh:
            delivery = plan[index]
            self.ledger.note(
                delivery.wamids,
                delivery.statuses,
                wall0 + due[index],
                wall0 + started[index],
                delivery.markers,
            )
        self.ledger.flush()

    def _result(
        self, index: int, attempts: int, status: int | None, error: str | None, at: float
    ) -> SendResult:
        answered = self.answered[index]
        delivery = self.plan[index]
        return SendResult(
            scheduled_at=self.wall0 + at,
            started_at=self.wall0 + self.started[index],
            finished_at=self.wall0 + (time.perf_counter() - self.t0),
            status_code=status,
            error=error,
            attempts=attempts,
            wamids=delivery.wamids,
            statuses=delivery.statuses,
            duplicate=delivery.duplicate,
            first_answer_at=self.wall0 + answered if answered >= 0 else None,
        )

    def _record_times(self) -> None:
        for at, started, answered in zip(self.due, self.started, self.answered, strict=True):
            if started == _UNSTARTED:  # the run was stopped first
                continue
            self.report.record_times(started - at, answered - at if answered >= 0 else None)


async def _unless_stopped(work: asyncio.Future[Any], stop: asyncio.Event | None) -> None:
    """Await `work`, or cancel it (dropping what it has in flight) as soon as `stop` is set."""
    if stop is None:
        await work
        return
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.cancel()
        stopped = not work.done()
        work.cancel()
        await asyncio.wait({work})
        if not work.cancelled():
            work.exception()  # retrieved: a stopped gather ends with a CancelledError
    if not stopped:
        work.result()


def raise_if_unreachable(report: SendReport, target: Target) -> None:
    """Turn a run where nothing answered into one clear TargetError."""
    if report.sent and not report.answers and report.errors:
        raise TargetError(f"cannot reach {target.endpoint}: {report.first_error}")
    if report.sent and not report.answers and report.timeouts:
        raise TargetError(f"{target.endpoint} did not answer within {target.timeout:g}s")
