"""Webhook traffic of a bench run: a signed send plan, fired on its open-model schedule.

Each POST starts at its scheduled time whether or not earlier ones have returned, so a slow
backend shows up as latency instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from wasim.bench.scenario import Scenario
from wasim.payloads import PayloadFactory
from wasim.send.plan import Delivery, PlanSpec, build_plan

BROKEN_AFTER = 3  # consecutive POSTs that could not reach the backend


@dataclass(frozen=True)
class Planned:
    """One POST of the plan and the owner (phone) of each message id it carries."""

    delivery: Delivery
    senders: dict[str, str]


def plan_traffic(scenario: Scenario, phones: list[str]) -> list[Planned]:
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
    factory = PayloadFactory(seed=traffic.seed, clock=time.time)
    plan = build_plan(factory, spec, scenario.backend.app_secret)
    return [Planned(delivery, _senders(delivery.body)) for delivery in plan]


def _senders(body: bytes) -> dict[str, str]:
    document = json.loads(body)
    return {
        message["id"]: message.get("from", "")
        for entry in document.get("entry", [])
        for change in entry.get("changes", [])
        for message in change.get("value", {}).get("messages", [])
    }


class Sender:
    """Fires the plan; counts POSTs and failures; notices when the backend has gone away."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.posts = 0
        self.duplicates = 0
        self.errors = 0
        self.consecutive_unreachable = 0
        self.last_error = ""
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def broken(self) -> bool:
        return self.consecutive_unreachable >= BROKEN_AFTER

    async def run(
        self, plan: list[Planned], start: float, on_schedule: Callable[[Planned, float], None]
    ) -> None:
        """POST each delivery at `start + at` (wall clock); wait for the stragglers."""
        for planned in plan:
            scheduled_at = start + planned.delivery.at
            delay = scheduled_at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            on_schedule(planned, scheduled_at)
            task = asyncio.create_task(self._post(planned.delivery))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        if self._inflight:
            await asyncio.wait(set(self._inflight))

    async def _post(self, delivery: Delivery) -> None:
        self.posts += 1
        self.duplicates += delivery.duplicate
        try:
            response = await self.http.post(
                self.url, content=delivery.body, headers=dict(delivery.headers)
            )
        except httpx.TransportError as exc:
            self.errors += 1
            self.consecutive_unreachable += 1
            self.last_error = str(exc) or type(exc).__name__
            return
        self.consecutive_unreachable = 0
        if response.status_code != 200:
            self.errors += 1
            self.last_error = f"HTTP {response.status_code}"
