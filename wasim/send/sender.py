"""The open-model sender: every POST starts on its scheduled time, answered or not."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from wasim import defaults
from wasim.errors import ConfigError, TargetError
from wasim.send.plan import Delivery
from wasim.send.report import SendReport, SendResult
from wasim.send.retry import RetryProfile, retry_profile

OnResult = Callable[[SendResult], None]


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
) -> SendReport:
    """Send `plan` on its schedule (open model) and return the run's report."""
    if concurrency < 1:
        raise ConfigError("concurrency must be at least 1")
    runner = _Runner(target, retry or retry_profile("none"), concurrency, on_result)
    return await runner.run(plan)


class _Runner:
    def __init__(
        self, target: Target, retry: RetryProfile, concurrency: int, on_result: OnResult | None
    ) -> None:
        self.endpoint = target.endpoint
        self.target = target
        self.retry = retry
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.on_result = on_result
        self.report = SendReport()
        self.session: aiohttp.ClientSession | None = None

    async def run(self, plan: Sequence[Delivery]) -> SendReport:
        self.report.planned = len(plan)
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=self.target.timeout)
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, skip_auto_headers=("Accept-Encoding",)
        ) as self.session:
            tasks: set[asyncio.Task[None]] = set()
            # The prebuilt plan is long-lived: keep the collector from rescanning it mid-run,
            # where its pauses would show up as schedule lag.
            gc.collect()
            gc.freeze()
            try:
                await self._schedule(plan, tasks)
            finally:
                gc.unfreeze()
            self.report.elapsed = loop.time() - self.mono0
        return self.report

    async def _schedule(self, plan: Sequence[Delivery], tasks: set[asyncio.Task[None]]) -> None:
        loop = asyncio.get_running_loop()
        self.mono0, self.wall0 = loop.time(), time.time()
        for delivery in plan:
            delay = self.mono0 + delivery.at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            # The cap makes the sender fall behind; the lag histogram shows by how much.
            await self.slots.acquire()
            task = asyncio.create_task(self._deliver(delivery))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)

    def _wall(self) -> float:
        return self.wall0 + (asyncio.get_running_loop().time() - self.mono0)

    async def _deliver(self, delivery: Delivery) -> None:
        scheduled = self.wall0 + delivery.at
        started = self._wall()
        first_answer: float | None = None
        attempts = 0
        while True:
            attempts += 1
            if attempts > 1:
                await self.slots.acquire()
            try:
                status, error = await self._post(delivery)
            finally:
                self.slots.release()
            if attempts == 1 and status is not None:
                first_answer = self._wall()
            if status == 200 or attempts >= self.retry.max_attempts:
                break
            await asyncio.sleep(self.retry.delays[attempts - 1])
        result = SendResult(
            scheduled_at=scheduled,
            started_at=started,
            finished_at=self._wall(),
            status_code=status,
            error=error,
            attempts=attempts,
            wamids=delivery.wamids,
            statuses=delivery.statuses,
            duplicate=delivery.duplicate,
            first_answer_at=first_answer,
        )
        self.report.add(result)
        if self.on_result is not None:
            self.on_result(result)

    async def _post(self, delivery: Delivery) -> tuple[int | None, str | None]:
        assert self.session is not None
        try:
            async with self.session.post(
                self.endpoint, data=delivery.body, headers=dict(delivery.headers)
            ) as response:
                await response.read()
                return response.status, None
        except TimeoutError:
            return None, "timeout"
        except aiohttp.ClientError as exc:
            return None, str(exc) or type(exc).__name__


def raise_if_unreachable(report: SendReport, target: Target) -> None:
    """Turn a run where nothing answered into one clear TargetError."""
    if report.sent and not report.answers and report.errors:
        raise TargetError(f"cannot reach {target.endpoint}: {report.first_error}")
    if report.sent and not report.answers and report.timeouts:
        raise TargetError(f"{target.endpoint} did not answer within {target.timeout:g}s")
