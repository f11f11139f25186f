"""The backend under test: a given URL, or the bundled one spawned for the run; its counters."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from wasim.bench.scenario import Scenario
from wasim.errors import TargetError
from wasim.server import SpawnedBackend, spawn_backend


@dataclass
class RunningBackend:
    """The target; a `restart` fault replaces `spawned` (None while it is down) and `url`."""

    url: str
    spawned: SpawnedBackend | None = None
    env: dict[str, str] = field(default_factory=dict)

    def exited(self) -> int | None:
        """The spawned backend's exit code once it has died, else None."""
        return None if self.spawned is None else self.spawned.process.poll()


def spawn_env(scenario: Scenario, database: Path) -> dict[str, str]:
    """Environment of the spawned bundled backend: the scenario's secrets, then its `env`."""
    backend, auth = scenario.backend, scenario.auth
    return {
        "WASIM_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "WASIM_APP_SECRET": backend.app_secret,
        "WASIM_VERIFY_TOKEN": backend.verify_token,
        "WASIM_JWT_SECRET": auth.jwt_secret,
        "WASIM_JWT_CLAIM": auth.claim,
        "WASIM_JWT_ALGORITHM": auth.algorithm,
        "WASIM_WEBHOOK_PATH": backend.webhook_path,
        **backend.env,
    }


@contextlib.asynccontextmanager
async def open_target(scenario: Scenario) -> AsyncIterator[RunningBackend]:
    """Yield the target; a spawned backend uses a temporary SQLite file and stops at the end."""
    if scenario.backend.url is not None:
        yield RunningBackend(scenario.backend.url.rstrip("/"))
        return
    with tempfile.TemporaryDirectory(prefix="wasim-bench-") as folder:
        env = spawn_env(scenario, Path(folder) / "bench.db")
        spawned = await asyncio.to_thread(spawn_backend, env=env)
        target = RunningBackend(spawned.url, spawned, env)
        try:
            yield target
        finally:
            if target.spawned is not None:
                await asyncio.to_thread(target.spawned.stop)
            if spawned is not target.spawned:
                await asyncio.to_thread(spawned.stop)  # a restart that failed half way


async def check_reachable(
    http: httpx.AsyncClient, target: RunningBackend, scenario: Scenario
) -> str:
    """Drive the verify handshake; unreachable is fatal, a refusal only a warning."""
    backend = scenario.backend
    url = target.url + backend.webhook_path
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": backend.verify_token,
        "hub.challenge": "wasim-bench",
    }
    try:
        response = await http.get(url, params=params)
    except httpx.TransportError as exc:
        raise TargetError(f"the backend at {target.url} is unreachable: {exc}") from None
    if response.status_code != 200 or response.text != "wasim-bench":
        return f"the webhook handshake at {url} answered HTTP {response.status_code}"
    return ""


async def scrape(
    http: httpx.AsyncClient, target: RunningBackend, path: str | None
) -> tuple[dict[str, float], str]:
    """Counter totals from Prometheus text (labels summed), and why there are none, if so."""
    if not path:
        return {}, ""
    url = target.url + path
    try:
        response = await http.get(url)
    except httpx.TransportError as exc:
        return {}, f"no server-side counts: {url} unreachable ({exc or type(exc).__name__})"
    if response.status_code != 200:
        return {}, f"no server-side counts: {url} answered HTTP {response.status_code}"
    totals: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(response.text):
            if family.type != "counter":
                continue
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    except ValueError:
        return {}, f"no server-side counts: {url} is not Prometheus text"
    return totals, ""


def counter_deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counters that changed during the window, as deltas."""
    return {
        name: after[name] - before.get(name, 0.0)
        for name in sorted(after)
        if after[name] != before.get(name, 0.0)
    }
