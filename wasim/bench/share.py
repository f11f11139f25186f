"""One listener process's share of a bench run: its clients, what they received, its figures.

A share connects its clients, learns the whole schedule once the run's start is fixed (every
message's id, owner and scheduled send time), drains, and reports one `GroupPart` per client
group with its own load (CPU, event-loop lag). `InProcess` runs the only share in the
runner's event loop; `wasim.bench.spread.ChildProcesses` runs several in child processes. The
runner sees both through the same few methods (`ClientProcesses`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
from pydantic import BaseModel

from wasim.bench import faults
from wasim.bench.clients import Client, build_clients
from wasim.bench.live import LiveShare, Tally, load_of
from wasim.bench.measure import Collector, GroupPart, Sent, window_counters
from wasim.bench.prepare import Prepared
from wasim.bench.results import ProcessLoad
from wasim.bench.saturation import Monitor
from wasim.bench.scenario import Scenario
from wasim.errors import WasimError
from wasim.faults.routes import Routes
from wasim.transports.base import Listener, Received, StateChange


def http_client() -> httpx.AsyncClient:
    """The HTTP client of a bench process: no connection cap, patient reads (long polls)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    return httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0), limits=limits)


def process_name(part: int, parts: int) -> str:
    return f"listener process {part + 1}/{parts}"


class ShareReport(BaseModel):
    """What one listener process measured: per group, its load, and what went wrong."""

    load: ProcessLoad
    groups: list[GroupPart]
    warnings: list[str]


class ClientShare:
    """Every `parts`-th client of each group, from `part` on, measured in this event loop."""

    def __init__(
        self,
        scenario: Scenario,
        base_url: str,
        prepared: Prepared,
        http: httpx.AsyncClient,
        part: int = 0,
        parts: int = 1,
        routes: Routes | None = None,
    ) -> None:
        self.scenario = scenario
        self.base_url = base_url
        self.routes = routes
        self.prepared = prepared
        self.http = http
        self.part, self.parts = part, parts
        self.collector = Collector(paths=tuple(scenario.match.id_paths))
        self.clients: list[Client] = []
        self.pumps: list[asyncio.Task[None]] = []
        self.warnings: list[str] = []
        self.at_connect: dict[str, dict[str, int]] = {}
        self.monitor = Monitor(scenario.load, process_name(part, parts))
        self._counters: asyncio.Task[dict[str, dict[str, int]]] | None = None
        self.fault_log = faults.FaultLog()
        self.collector.count_repeats = bool(scenario.faults)
        self._edges: list[asyncio.Task[None]] = []
        self.start = 0.0
        self._first_error: WasimError | None = None
        self._tally: Tally | None = None
        self.down: set[str] = set()  # clients whose connection is down now

    async def connect(self) -> None:
        opened = self.prepared.open_conversation()
        for group in self.scenario.clients:
            self.clients += build_clients(
                group,
                self.base_url,
                self.prepared.users,
                self.prepared.tokens,
                opened,
                self.http,
                self.part,
                self.parts,
                self.routes,
                self.prepared.population(),
            )
        self.monitor.clients = len(self.clients)
        await asyncio.gather(*(self._open(client) for client in self.clients))
        self._check_connected()
        # What connecting cost (handshakes, upgrades, first loads): paid once per session.
        self.at_connect = {client.id: client.counters() for client in self.clients}
        self.pumps = [
            asyncio.create_task(self._pump(client, listener))
            for client in self.clients
            if client.failed is None
            for listener in client.listeners
        ]

    async def _open(self, client: Client) -> None:
        """Connect a client's listeners; one refused or failed marks the client failed."""
        outcomes = await asyncio.gather(
            *(listener.connect() for listener in client.listeners), return_exceptions=True
        )
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if not errors:
            return
        if not isinstance(errors[0], WasimError):
            raise errors[0]
        self._first_error = self._first_error or errors[0]
        client.failed = str(errors[0])
        await asyncio.gather(*(lst.close() for lst in client.listeners), return_exceptions=True)

    def _check_connected(self) -> None:
        """A group none of whose clients connected fails its own column; if every group
        failed, the run measured nothing and stops with the first reason."""
        failed = [c for c in self.clients if c.failed is not None]
        if self.clients and len(failed) == len(self.clients) and self._first_error:
            raise self._first_error
        for group in self.scenario.clients:
            mine = [c for c in self.clients if c.group == group.label]
            down = [c for c in mine if c.failed is not None]
            if down and len(down) < len(mine):
                self.warnings.append(
                    f"{group.label}: {len(down)} of {len(mine)} clients could not connect "
                    f"({down[0].failed})"
                )

    def begin(self, start: float, messages: list[Sent]) -> None:
        """The run starts at `start` (wall clock) and will send `messages`."""
        self.collector.expect(messages)
        self.monitor.start()
        window_start = start + self.scenario.traffic.warmup
        self._counters = asyncio.create_task(self._counters_at(window_start))
        self.start = start
        for index, edges in enumerate(faults.windows(self.scenario, start)):
            for edge, moment in zip(("start", "end"), edges, strict=True):
                self._edges.append(asyncio.create_task(self._fault_edge(index, edge, moment)))

    async def _fault_edge(self, index: int, edge: str, moment: float) -> None:
        self.fault_log.counters[(index, edge)] = await self._counters_at(moment)

    @property
    def delivered(self) -> int:
        return self.collector.delivered_live

    def live(self) -> LiveShare:
        """This process's figures so far (`wasim bench --live`, `--metrics-port`)."""
        if self._tally is None:
            self._tally = Tally(self.scenario, self.collector)
        return self._tally.read(self.clients, load_of(self.monitor), self.down)

    async def drain(self, seconds: float) -> None:
        """Wait until every visible client holds every message, or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.collector.outstanding(self.clients):
            await asyncio.sleep(0.05)

    async def finish(self) -> ShareReport:
        """Close the measured window: counters, load and each group's figures."""
        assert self._counters is not None, "finish() before begin()"
        counters = window_counters(self.clients, await self._counters)
        load = await self.monitor.stop()
        open_phones = self.prepared.open_phones()
        groups = [
            self.collector.group_part(
                group,
                [c for c in self.clients if c.group == group.label],
                counters,
                0.0,  # the runner merges the parts for its own window
                at_connect=self.at_connect,
                open_phones=open_phones,
            )
            for group in self.scenario.clients
        ]
        if self.scenario.faults:
            for part in groups:
                mine = [c for c in self.clients if c.group == part.result.name]
                figures = faults.figures(
                    self.scenario, self.start, mine, self.collector, self.fault_log
                )
                part.result.faults, part.result.steady, part.result.steady_histogram = figures
        await self.close()
        return ShareReport(load=load, groups=groups, warnings=self.warnings)

    async def close(self) -> None:
        listeners = [lst for c in self.clients for lst in c.listeners]
        await asyncio.gather(*(lst.close() for lst in listeners), return_exceptions=True)
        tasks: list[asyncio.Task[Any]] = [
            *self.pumps,
            *([self._counters] if self._counters else []),
            *self._edges,
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.clients, self.pumps = [], []

    async def _counters_at(self, moment: float) -> dict[str, dict[str, int]]:
        await asyncio.sleep(max(moment - time.time(), 0.0))
        return {client.id: client.counters() for client in self.clients}

    async def _pump(self, client: Client, listener: Listener) -> None:
        async for item in listener.items():
            if isinstance(item, Received):
                self.collector.take(client.id, client.group, item)
            elif isinstance(item, StateChange):
                self.fault_log.state(client.id, item.at, item.transport, item.state)
                if item.state == "connected":
                    self.down.discard(client.id)
                else:
                    self.down.add(client.id)
            if isinstance(item, StateChange) and item.state == "failed":
                self.warnings.append(f"{client.id} ({item.transport}) failed: {item.reason}")


class ClientProcesses(Protocol):
    """The bench's clients as the runner drives them, in one process or spread over several."""

    processes: int

    @property
    def delivered(self) -> int: ...

    def live(self) -> list[LiveShare]: ...

    async def connect(self) -> None: ...

    async def begin(self, start: float, messages: list[Sent]) -> None: ...

    async def drain(self, seconds: float) -> None: ...

    async def finish(self) -> list[ShareReport]: ...

    async def close(self) -> None: ...


class InProcess:
    """The only share, in the runner's own event loop (`processes = 1`)."""

    processes = 1

    def __init__(self, share: ClientShare) -> None:
        self.share = share

    @property
    def delivered(self) -> int:
        return self.share.delivered

    def live(self) -> list[LiveShare]:
        return [self.share.live()]

    async def connect(self) -> None:
        await self.share.connect()

    async def begin(self, start: float, messages: list[Sent]) -> None:
        self.share.begin(start, messages)

    async def drain(self, seconds: float) -> None:
        await self.share.drain(seconds)

    async def finish(self) -> list[ShareReport]:
        return [await self.share.finish()]

    async def close(self) -> None:
        await self.share.close()
