"""Playing a scenario's `[[faults]]` during a bench run: the proxy's links, and the restarts.

`open_faults` puts a `FaultProxy` in front of the backend when the scenario has faults (the
clients' and the webhook sender's URLs then point at its links, see `wasim.faults.routes`) and
`FaultRun.play` applies each fault at its time: `slow` on every client link, `drop` and
`blackhole` on the push lanes of `share` of the clients (and on polling too with
`connections = "all"`), `restart` on the backend itself. Overlapping faults on one link add
up (latencies and jitters add, the lowest bandwidth wins, any cut cuts). What happened, with
its real times (a restart lasts until the backend answers again), is kept in `happened`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from wasim.bench.backend import RunningBackend
from wasim.bench.results import FaultWindow
from wasim.bench.scenario import Fault, Scenario
from wasim.errors import TargetError
from wasim.faults.proxy import HEALTHY, FaultProxy, Impairment
from wasim.faults.routes import Routes, lane_names, lanes_for
from wasim.faults.webhook import WebhookGate
from wasim.send.retry import RetryProfile, retry_profile
from wasim.server import ServerThread, spawn_backend

READY_TIMEOUT = 60.0  # seconds a restarted backend has to accept connections again


@dataclass(frozen=True)
class Happened:
    """A fault as it happened: wall-clock start and end."""

    name: str
    kind: str
    started_at: float
    ended_at: float
    detail: str


def describe(fault: Fault) -> str:
    parts = []
    if fault.latency:
        parts.append(f"+{fault.latency * 1000:g} ms")
    if fault.jitter:
        parts.append(f"±{fault.jitter * 1000:g} ms")
    if fault.bandwidth:
        parts.append(f"{fault.bandwidth / 1000:g} kB/s")
    if fault.kind in ("drop", "blackhole"):
        parts.append(f"{fault.share or 1.0:.0%} of clients, {fault.connections or 'push'}")
    if fault.kind == "webhook_errors":
        parts.append(f"{fault.share or 1.0:.0%} of POSTs answered {fault.answer or '500'}")
    return ", ".join(parts)


def links_of(fault: Fault) -> list[str]:
    if fault.kind == "slow":
        return ["http", *lane_names()]
    if fault.kind in ("drop", "blackhole"):
        http = ["http"] if fault.connections == "all" else []
        return [*http, *lanes_for(fault.share or 1.0)]
    return []


def combined(faults: list[Fault]) -> Impairment:
    """What several active faults do to one link together."""
    if not faults:
        return HEALTHY
    bandwidths = [f.bandwidth for f in faults if f.bandwidth]
    return Impairment(
        latency=sum(f.latency or 0.0 for f in faults),
        jitter=sum(f.jitter or 0.0 for f in faults),
        bandwidth=min(bandwidths) if bandwidths else None,
        blackhole=any(f.kind == "blackhole" for f in faults),
        down=any(f.kind == "drop" for f in faults),
    )


@dataclass
class FaultRun:
    scenario: Scenario
    target: RunningBackend
    proxy: FaultProxy | None = None
    routes: Routes = field(default_factory=lambda: Routes.direct(""))
    webhook_url: str = ""
    happened: list[Happened] = field(default_factory=list)
    ongoing: dict[str, Happened] = field(default_factory=dict)  # by name, to its planned end
    active: list[int] = field(default_factory=list)
    gate: WebhookGate | None = None

    def retry(self) -> RetryProfile | None:
        """Webhooks that hit a restarting backend are retried as Meta does (send's `fast`
        profile: 1, 2, 4 … s), else they would be lost before any client could miss them."""
        retried = {"restart", "webhook_errors"}
        if any(fault.kind in retried for fault in self.scenario.faults):
            return retry_profile("fast")
        return None

    def windows(self, window_start: float, ongoing: bool = False) -> list[FaultWindow]:
        """What happened (`ongoing`: and what is happening, to its planned end), in seconds
        after the measured window opened, in order of start."""
        happened = self.happened + (list(self.ongoing.values()) if ongoing else [])
        return [
            FaultWindow(
                kind=h.kind,
                name=h.name,
                start_s=h.started_at - window_start,
                end_s=h.ended_at - window_start,
                detail=h.detail,
            )
            for h in sorted(happened, key=lambda h: h.started_at)
        ]

    async def play(self, start: float) -> None:
        """Apply each fault at `start + fault.start` (wall clock) and lift it after its
        duration; return once every fault is over."""
        names = self.scenario.fault_names()
        tasks = [
            asyncio.create_task(self._one(index, fault, names[index], start))
            for index, fault in enumerate(self.scenario.faults)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, index: int, fault: Fault, name: str, start: float) -> None:
        await _until(start + fault.start)
        began = time.time()
        self.ongoing[name] = Happened(name, fault.kind, began, began + fault.duration, "")
        try:
            await self._play(index, fault, name, began)
        finally:
            del self.ongoing[name]

    async def _play(self, index: int, fault: Fault, name: str, began: float) -> None:
        if fault.kind == "restart":
            await self._restart(began + fault.duration)
        elif fault.kind == "webhook_errors":
            assert self.gate is not None
            failed = self.gate.failed
            self.gate.share, self.gate.answer = fault.share or 1.0, fault.answer or "500"
            try:
                await _until(began + fault.duration)
            finally:
                self.gate.share = 0.0
            detail = f"{describe(fault)}; {self.gate.failed - failed} POSTs failed"
            self.happened.append(Happened(name, fault.kind, began, time.time(), detail))
            return
        else:
            self.active.append(index)
            self._apply()
            try:
                await _until(began + fault.duration)
            finally:
                self.active.remove(index)
                self._apply()
        self.happened.append(Happened(name, fault.kind, began, time.time(), describe(fault)))

    def _apply(self) -> None:
        assert self.proxy is not None
        faults = self.scenario.faults
        for link in self.proxy.links:
            acting = [faults[i] for i in self.active if link in links_of(faults[i])]
            self.proxy.impair([link], combined(acting))

    async def _restart(self, back_at: float) -> None:
        """Stop the backend, and start it again at `back_at`; return once it accepts."""
        target, commands = self.target, self.scenario.backend.restart
        spawned, target.spawned = target.spawned, None  # its exit is no failure of the run
        if spawned is not None:
            await asyncio.to_thread(spawned.stop)
        elif commands is not None:
            await _shell(commands.stop)
        await _until(back_at)
        if spawned is not None:
            started = await asyncio.to_thread(spawn_backend, env=target.env)
            target.spawned, target.url = started, started.url
        elif commands is not None:
            await _shell(commands.start)
        host, port = _address(target.url)
        await _accepting(host, port)
        if self.proxy is not None:
            self.proxy.upstream = (host, port)


async def _until(moment: float) -> None:
    await asyncio.sleep(max(moment - time.time(), 0.0))


async def _shell(command: str) -> None:
    process = await asyncio.create_subprocess_shell(command)
    if await process.wait() != 0:
        raise TargetError(f"the restart command {command!r} failed (exit {process.returncode})")


async def _accepting(host: str, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            return
        if time.monotonic() > deadline:
            raise TargetError(f"the backend at {host}:{port} did not come back after a restart")
        await asyncio.sleep(0.05)


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "127.0.0.1", parts.port or default


@contextlib.asynccontextmanager
async def open_faults(scenario: Scenario, target: RunningBackend) -> AsyncIterator[FaultRun]:
    """The run's fault schedule; with faults, a proxy in front of `target` for its duration."""
    run = FaultRun(scenario, target, routes=Routes.direct(target.url), webhook_url=target.url)
    if not scenario.faults:
        yield run
        return
    host, port = _address(target.url)
    proxy = run.proxy = FaultProxy(socket.gethostbyname(host), port)
    gate: ServerThread | None = None
    try:
        ports = {name: await proxy.open_link(name) for name in ["http", "webhook", *lane_names()]}
        run.routes = Routes(
            http_url=f"http://127.0.0.1:{ports['http']}",
            push_urls=[f"http://127.0.0.1:{ports[name]}" for name in lane_names()],
        )
        run.webhook_url = f"http://127.0.0.1:{ports['webhook']}"
        if any(fault.kind == "webhook_errors" for fault in scenario.faults):
            run.gate = WebhookGate(lambda: target.url)
            gate = ServerThread(run.gate)
            run.webhook_url = await asyncio.to_thread(gate.start)
        yield run
    finally:
        if gate is not None:
            await asyncio.to_thread(gate.stop)
        await proxy.close()
