"""Webhook traffic of a bench run: a signed send plan, fired on its open-model schedule.

Each POST starts at its scheduled time whether or not earlier ones have returned, so a slow
backend shows up as latency instead of hiding it (no coordinated omission).

`ProcessSender` fires the plan from a child process (`python -m wasim.bench.sendproc`). A
backend may answer the webhook only once it has pushed the event (the bundled one does), so the
POST's response lands together with the push frame; handled in the listeners' event loop, it
would delay their receive timestamps by a few tenths of a millisecond
(benchmarks/bench_fidelity.py measures exactly that).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from wasim.bench.scenario import Scenario
from wasim.errors import TargetError
from wasim.payloads import PayloadFactory
from wasim.send.plan import Delivery, PlanSpec, build_plan

BROKEN_AFTER = 3  # consecutive POSTs that could not reach the backend


@dataclass(frozen=True)
class Planned:
    """One POST of the plan, the owner (phone) of each message id it carries, and the marker
    that each message's text carries, if any."""

    delivery: Delivery
    senders: dict[str, str]
    markers: dict[str, str] = field(default_factory=dict)


def plan_traffic(scenario: Scenario, phones: list[str], seed: int | None = None) -> list[Planned]:
    """The run's POSTs; `seed` (else the scenario's) makes the ids, texts and markers."""
    traffic = scenario.traffic
    spec = PlanSpec(
        mix=traffic.mix,
        count=max(1, traffic.messages // traffic.batch),
        rate=traffic.rate / traffic.batch,
        batch=traffic.batch,
        duplicates=traffic.duplicates,
        phones=phones,
        style="meta" if traffic.meta_style else "plain",
    )
    factory = PayloadFactory(
        seed=seed if seed is not None else traffic.seed,
        clock=time.time,
        markers=scenario.match.marker,
    )
    plan = build_plan(factory, spec, scenario.backend.app_secret)
    return [Planned(delivery, _senders(delivery.body), dict(delivery.markers)) for delivery in plan]


def _senders(body: bytes) -> dict[str, str]:
    document = json.loads(body)
    return {
        message["id"]: message.get("from", "")
        for entry in document.get("entry", [])
        for change in entry.get("changes", [])
        for message in change.get("value", {}).get("messages", [])
    }


async def on_time(
    plan: list[Planned], start: float, on_schedule: Callable[[Planned, float], None]
) -> AsyncIterator[Planned]:
    """Yield each delivery at `start + at` (wall clock), after reporting its scheduled time."""
    for planned in plan:
        scheduled_at = start + planned.delivery.at
        delay = scheduled_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        on_schedule(planned, scheduled_at)
        yield planned


class Sender:
    """Fires the plan; counts POSTs and failures; notices when the backend has gone away."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        on_result: Callable[[dict[str, object]], None] | None = None,
    ) -> None:
        self.http = http
        self.url = url
        self.on_result = on_result
        self.posts = 0
        self.duplicates = 0
        self.errors = 0
        self.consecutive_unreachable = 0
        self.last_error = ""
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def broken(self) -> bool:
        return self.consecutive_unreachable >= BROKEN_AFTER

    async def open(self) -> None:
        """Get ready to send (before the schedule's start is fixed)."""

    async def close(self) -> None:
        """Release what `open` took, if `run` did not."""

    async def run(
        self, plan: list[Planned], start: float, on_schedule: Callable[[Planned, float], None]
    ) -> None:
        """POST each delivery at `start + at` (wall clock); wait for the stragglers."""
        async for planned in on_time(plan, start, on_schedule):
            task = asyncio.create_task(self._post(planned.delivery))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if self._inflight:
            await asyncio.wait(set(self._inflight))

    async def _post(self, delivery: Delivery) -> None:
        try:
            response = await self.http.post(
                self.url, content=delivery.body, headers=dict(delivery.headers)
            )
        except httpx.TransportError as exc:
            self.count({"duplicate": delivery.duplicate, "error": str(exc) or type(exc).__name__})
            return
        error = "" if response.status_code == 200 else f"HTTP {response.status_code}"
        self.count({"duplicate": delivery.duplicate, "error": error, "reached": True})

    def count(self, result: dict[str, object]) -> None:
        """Account for one POST: `duplicate`, `error` (empty when it was taken), `reached`."""
        self.posts += 1
        self.duplicates += bool(result.get("duplicate"))
        if result.get("reached"):
            self.consecutive_unreachable = 0
        elif result.get("error"):
            self.consecutive_unreachable += 1
        if result.get("error"):
            self.errors += 1
            self.last_error = str(result["error"])
        if self.on_result is not None:
            self.on_result(result)


class ProcessSender(Sender):
    """The same schedule and counts as `Sender`, with the POSTs made by a child process.

    This process only keeps the bookkeeping (`on_schedule` at each scheduled time) and reads
    the child's one JSON line per POST. `open()` starts the child early, so its start-up is
    over before the first scheduled POST.
    """

    child: asyncio.subprocess.Process | None = None

    async def open(self) -> None:
        if self.child is None:
            self.child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "wasim.bench.sendproc",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                start_new_session=True,  # Ctrl-C is the parent's: it stops this child itself
            )

    async def run(
        self, plan: list[Planned], start: float, on_schedule: Callable[[Planned, float], None]
    ) -> None:
        job = {
            "url": self.url,
            "start": start,
            "posts": [
                {
                    "at": p.delivery.at,
                    "body": base64.b64encode(p.delivery.body).decode("ascii"),
                    "headers": dict(p.delivery.headers),
                    "duplicate": p.delivery.duplicate,
                }
                for p in plan
            ],
        }
        await self.open()
        child = self.child
        assert child is not None and child.stdin is not None and child.stdout is not None
        self.child = None
        reader = asyncio.create_task(self._read(child.stdout))
        try:
            child.stdin.write(json.dumps(job).encode())
            await child.stdin.drain()
            child.stdin.close()
            async for _ in on_time(plan, start, on_schedule):
                pass  # the child POSTs on the same schedule; this side only reports it
            await reader
            if await child.wait() != 0:
                raise TargetError(f"the webhook sender process failed (exit {child.returncode})")
        finally:
            reader.cancel()
            if child.returncode is None:
                child.kill()
                with contextlib.suppress(ProcessLookupError):
                    await child.wait()

    async def close(self) -> None:
        child, self.child = self.child, None
        if child is not None and child.returncode is None:
            child.kill()
            with contextlib.suppress(ProcessLookupError):
                await child.wait()

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while line := await stdout.readline():
            self.count(json.loads(line))


async def send_job(job: dict[str, Any]) -> None:
    """The child's side of `ProcessSender`: fire `job`'s posts, one JSON line per result."""

    def report(result: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()

    plan = [
        Planned(
            Delivery(
                base64.b64decode(post["body"]),
                post["headers"],
                duplicate=post["duplicate"],
                at=post["at"],
            ),
            {},
        )
        for post in job["posts"]
    ]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    timeout = httpx.Timeout(10.0, read=60.0)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as http:
        await Sender(http, job["url"], report).run(plan, job["start"], lambda *_: None)
