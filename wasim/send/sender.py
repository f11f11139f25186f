"""The open-model sender: every POST starts on its scheduled time, answered or not."""

from __future__ import annotations

import asyncio
import gc
import heapq
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from wasim import defaults
from wasim.errors import ConfigError, TargetError
from wasim.ledger import LedgerWriter
from wasim.send import builder as building
from wasim.send.builder import Builder, Ready
from wasim.send.plan import Delivery, Recipe
from wasim.send.report import GUIDANCE_SLOW_MS, IDS_KEPT, SendReport, SendResult
from wasim.send.retry import RetryProfile, retry_profile
from wasim.send.wire import Wire, WireError

OnResult = Callable[[SendResult], None]
OnProgress = Callable[[int], None]
PROGRESS_EVERY_S = 0.1
# Behind schedule, bodies are built this many at a time: building and sending in long runs
# each keep their code and data in the CPU's caches (measured: a third more POSTs a second
# than one at a time). Ahead of schedule, one is built at a time, so nothing waits for a batch.
BUILD_AHEAD = 64
# From this many POSTs a Recipe's bodies are built in a process of their own (forked, it
# starts in milliseconds; the sending process keeps its CPU for sending); fewer are built here.
BUILDER_FROM = 2000
GC_THRESHOLD = 50_000  # the collector's first threshold while sending (see `_Runner.run`)


@dataclass(frozen=True)
class Target:
    """Where webhooks go and the secret that signs them.

    `url` may be a base (`http://host:8000`, the default webhook path is added) or the whole
    webhook URL (`http://host:8000/hooks/wa`, used as it is); `webhook_path`, when given,
    replaces the URL's path.
    """

    url: str = defaults.BASE_URL
    app_secret: str = defaults.APP_SECRET
    webhook_path: str | None = None
    timeout: float = 10.0
    verify_token: str = defaults.VERIFY_TOKEN

    @property
    def endpoint(self) -> str:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"target URL must start with http:// or https://: {self.url!r}")
        parts = urlsplit(self.url)
        path = self.webhook_path
        if path is None:
            path = parts.path if parts.path not in ("", "/") else defaults.WEBHOOK_PATH
        path = "/" + path.lstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


async def send_plan(
    target: Target,
    plan: Iterable[Delivery] | Recipe,
    *,
    concurrency: int = 256,
    retry: RetryProfile | None = None,
    on_result: OnResult | None = None,
    on_progress: OnProgress | None = None,
    start_at: float | None = None,
    ledger: LedgerWriter | None = None,
    report: SendReport | None = None,
    planned: int | None = None,
) -> SendReport:
    """Send `plan` on its schedule (open model) and return the run's report.

    `plan` is any iterable of deliveries in order of `at` (a list, or `iter_plan`'s generator,
    whose bodies are then built here as they fall due), or a `Recipe`, whose bodies are built
    by a builder process while this one sends (`wasim.send.builder`, from BUILDER_FROM POSTs;
    the schedule starts once the first are ready). Either way memory stays flat at any rate and
    duration.

    `on_result` gets every POST after its last attempt; `on_progress` gets the number done,
    every 0.1 s. `start_at` (a `time.time()` value) starts the schedule at that instant, which
    lets several processes share one schedule. `ledger` gets each POST's ids and times as it
    starts, written out every 0.1 s and at the end. `report`, when given, is filled in place,
    so a caller still holds what was sent if the run is cancelled (Ctrl-C); `planned` is the
    number of POSTs to expect from an iterator that cannot say (a list says it itself).
    """
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    if report is None:
        report = SendReport()
    wire = Wire(target.endpoint, target.timeout)
    builder = None
    if isinstance(plan, Recipe):
        planned = plan.posts
        if planned >= BUILDER_FROM and building.AVAILABLE:
            builder = Builder(plan, wire.head)
        source: Iterator[Delivery] = iter(()) if builder is not None else plan.deliveries()
    else:
        if isinstance(plan, Sized):
            planned = len(plan)
        source = iter(plan)
    report.planned = planned or 0
    retry = retry or retry_profile("none")
    runner = _Runner(wire, source, retry, on_result, ledger, report, builder)
    try:
        return await runner.run(concurrency, on_progress, start_at)
    finally:
        if builder is not None:
            builder.close()


class Times:
    """Schedule lags and answer latencies, counted per HdrHistogram bucket as POSTs go (a dict
    increment) and added to the report's histograms in bulk: a quarter of the cost of
    recording each, the same histograms (3 significant digits: 2,048 sub-buckets)."""

    def __init__(self) -> None:
        self.lags: defaultdict[int, int] = defaultdict(int)
        self.latencies: defaultdict[int, int] = defaultdict(int)
        self.slow = 0

    def add(self, lag: float, latency: float) -> None:
        """One POST's lag and its first answer's latency (seconds; negative when none)."""
        micros = round(lag * 1_000_000) if lag > 0 else 0
        self.lags[micros >> (shift := max(micros.bit_length() - 11, 0)) << shift] += 1
        if latency >= 0:
            self.slow += latency > GUIDANCE_SLOW_MS / 1000
            micros = round(latency * 1_000_000)
            self.latencies[micros >> (shift := max(micros.bit_length() - 11, 0)) << shift] += 1

    def flush(self, report: SendReport) -> None:
        report.record_counted(self.lags, self.latencies, self.slow)
        self.lags.clear()
        self.latencies.clear()
        self.slow = 0


@dataclass(slots=True, eq=False)
class _Post:
    """One planned POST while it is under way: its prebuilt request, what it carries (a
    builder's `Ready` tuple) and its times."""

    request: bytes
    at: float
    duplicate: bool
    wamids: tuple[str, ...]
    statuses: tuple[tuple[str, str], ...]
    markers: Mapping[str, str]
    started: float = 0.0  # seconds after t0, first attempt
    answered: float = -1.0  # first attempt's answer, -1 when none


class _Runner:
    """`concurrency` workers take POSTs in order of due time; a busy worker is a POST in flight.

    The plan is read just ahead of the schedule: a POST is built whole (body, headers, request
    line) by the builder process in chunks, or by the plan's iterator here (BUILD_AHEAD at a time
    when the schedule is behind), so a run of any length holds only the POSTs in flight, the
    retries waiting, and the few built next.
    """

    def __init__(
        self,
        wire: Wire,
        plan: Iterator[Delivery],
        retry: RetryProfile,
        on_result: OnResult | None,
        ledger: LedgerWriter | None,
        report: SendReport,
        builder: Builder | None = None,
    ) -> None:
        self.wire = wire
        self.plan = plan
        self.retry = retry
        self.on_result = on_result
        self.report = report
        self.ahead: deque[Ready] = deque()  # the next planned POSTs, built
        self.builder = builder  # builds them in another process, if set
        self.taken = 0  # planned POSTs taken from the plan
        self.exhausted = False
        self.retries: list[tuple[float, int, _Post, int]] = []  # (due, seq, post, attempt)
        self.sequence = 0
        self.t0 = 0.0
        self.ledger = ledger
        self.begun: list[_Post] = []  # first attempts started since the ledger's last flush
        self.times = Times()
        # Answers to first attempts (no duplicate), by status: a dict increment a POST, added
        # to the report every tick and at the end (`_count`), at a fifth of `tally`'s cost.
        self.answered: defaultdict[int, int] = defaultdict(int)

    async def run(
        self, concurrency: int, on_progress: OnProgress | None, start_at: float | None
    ) -> SendReport:
        # What exists now lives for the whole run: keep the collector from rescanning it, where
        # its pauses would show up as schedule lag.
        gc.collect()
        gc.freeze()
        # The POSTs read ahead from the builder (builder.READ_AHEAD: tens of thousands of
        # tuples) outlive their moment just long enough: at the default threshold (700 new
        # objects) nearly every chunk read set off a collection that scanned them (148 in
        # 100,000 POSTs, 0.7 us a POST); at this one, one a run. Cyclic garbage waits a little
        # longer: a few MB at most.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
        ticker = None
        try:
            if self.builder is not None:  # the schedule starts with its first bodies built
                self.builder.start()
                await self.builder.wait()
            self.t0 = time.perf_counter() + max((start_at or 0.0) - time.time(), 0.0)
            self.wall0 = time.time() + (self.t0 - time.perf_counter())
            if on_progress is not None or self.ledger is not None:
                ticker = asyncio.create_task(self._tick(on_progress))
            self._peek()
            workers = max(1, min(concurrency, self.report.planned or concurrency))
            await asyncio.gather(*(self._work() for _ in range(workers)))
        except asyncio.CancelledError:
            self.report.interrupted = True
            raise
        finally:
            self.report.elapsed = time.perf_counter() - self.t0
            self._count()
            self.times.flush(self.report)
            self.report.planned = max(self.report.planned, self.taken)
            if ticker is not None:
                ticker.cancel()
            self.wire.close()
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            self._note()
        if on_progress is not None:
            on_progress(self.report.sent)
        return self.report

    async def _work(self) -> None:
        clock, t0, report, times = time.perf_counter, self.t0, self.report, self.times
        by_status = self.answered
        begun = self.begun.append if self.ledger is not None else None
        send = self.wire.post
        while True:
            item = self._next()
            if item is None:
                if self.exhausted:
                    return
                await self._more()
                continue
            at, post, attempt = item
            wait = t0 + at - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if attempt == 1:
                post.started = clock() - t0
                if begun is not None:
                    begun(post)
            # Inline, not a helper coroutine: one frame less for each POST.
            status, error = None, None
            try:
                status = await send(post.request)
            except TimeoutError:
                error = "timeout"
            except WireError as exc:
                error = str(exc)
            if attempt == 1:
                if status is not None:
                    post.answered = clock() - t0
                due = post.at
                answered = max(post.answered - due, 0.0) if post.answered >= 0 else -1.0
                times.add(post.started - due, answered)
            if status != 200 and attempt < self.retry.max_attempts:
                delay = self.retry.delays[attempt - 1]
                self.sequence += 1
                entry = (clock() - t0 + delay, self.sequence, post, attempt + 1)
                heapq.heappush(self.retries, entry)
                continue
            if attempt == 1 and status is not None and not post.duplicate:
                by_status[status] += 1
            else:
                report.tally(status, error, attempt, post.duplicate)
            if self.on_result is not None:
                self.on_result(self._result(post, attempt, status, error))

    def _peek(self) -> Ready | None:
        ahead = self.ahead
        if not ahead and not self.exhausted and self.builder is not None:
            chunk = self.builder.take()
            if chunk is not None:
                ahead.extend(chunk)
            elif self.builder.done:
                self.exhausted = True
        elif not ahead and not self.exhausted:
            now = time.perf_counter() - self.t0
            request = self.wire.request
            while len(ahead) < BUILD_AHEAD:
                d = next(self.plan, None)
                if d is None:
                    self.exhausted = True
                    break
                ahead.append((request(d.body, d.headers), d.at, d.duplicate, d.wamids,
                              d.statuses, d.markers))  # fmt: skip
                if d.at > now:  # ahead of schedule: no need to build further yet
                    break
        return ahead[0] if ahead else None

    def _next(self) -> tuple[float, _Post, int] | None:
        """The next attempt to make; None when there is none yet (see `exhausted`)."""
        # A retry goes first once it is due no later than the next planned POST (or, while
        # the builder has none ready, once it is due).
        head = self._peek()
        retries = self.retries
        if retries and (
            (head is None and (self.exhausted or retries[0][0] <= time.perf_counter() - self.t0))
            or (head is not None and retries[0][0] <= head[1])
        ):
            due, _, post, attempt = heapq.heappop(retries)
            return due, post, attempt
        if head is None:
            return None
        self.ahead.popleft()
        self.taken += 1
        report = self.report
        if self.taken > report.planned:
            report.planned = self.taken
        post = _Post(*head)
        if len(report.ids) < IDS_KEPT:
            report.remember([*post.wamids, *(key for key, _ in post.statuses)])
        return post.at, post, 1

    async def _more(self) -> None:
        """Wait for the builder's next chunk, or for the first retry to fall due."""
        assert self.builder is not None
        timeout = None
        if self.retries:
            timeout = max(self.retries[0][0] - (time.perf_counter() - self.t0), 0.0)
        await self.builder.wait(timeout)

    async def _tick(self, on_progress: OnProgress | None) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            self._count()
            self._note()
            if on_progress is not None:
                on_progress(self.report.sent)

    def _count(self) -> None:
        self.report.tally_answered(self.answered)
        self.answered.clear()

    def _note(self) -> None:
        # Off the hot path: workers only append a POST; lines are built here, every 0.1 s.
        if self.ledger is None:
            return
        fresh = self.begun[:]
        self.begun.clear()  # the same list: workers hold its `append`
        wall0 = self.wall0
        for post in fresh:
            self.ledger.note(
                post.wamids, post.statuses, wall0 + post.at, wall0 + post.started, post.markers
            )
        self.ledger.flush()

    def _result(
        self, post: _Post, attempts: int, status: int | None, error: str | None
    ) -> SendResult:
        return SendResult(
            scheduled_at=self.wall0 + post.at,
            started_at=self.wall0 + post.started,
            finished_at=self.wall0 + (time.perf_counter() - self.t0),
            status_code=status,
            error=error,
            attempts=attempts,
            wamids=post.wamids,
            statuses=post.statuses,
            duplicate=post.duplicate,
            first_answer_at=self.wall0 + post.answered if post.answered >= 0 else None,
        )


def raise_if_unreachable(report: SendReport, target: Target) -> None:
    """Turn a run where nothing answered into one clear TargetError."""
    if report.sent and not report.answers and report.errors:
        raise TargetError(f"cannot reach {target.endpoint}: {report.first_error}")
    if report.sent and not report.answers and report.timeouts:
        raise TargetError(f"{target.endpoint} did not answer within {target.timeout:g}s")
