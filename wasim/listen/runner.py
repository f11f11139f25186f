"""Running many listeners in one process: ramp up, tail what arrives, stop, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import psutil

from wasim.correlate import Match
from wasim.errors import ConfigError, WasimError
from wasim.listen.auth import Credential
from wasim.listen.latency import Latencies, Source
from wasim.listen.records import event_record, state_record
from wasim.listen.summary import Summary
from wasim.tasks import cancel
from wasim.transports import PUSH_KINDS, ListenerConfig, Received, StateChange, make_listener
from wasim.transports._push import PushListener
from wasim.transports.base import Listener
from wasim.transports.hybrid import HybridListener

if TYPE_CHECKING:
    from wasim.bench.live import LiveShare

HTTP_KINDS = ("sse", "poll", "poll-optimized")
# Ids remembered per listener, oldest forgotten first: a message shows twice within seconds
# (new_message then conversation_updated, push then poll), and each costs ~146 bytes
# (benchmarks/matcher.py), so a few hundred are enough.
HELD_PER_LISTENER = 256

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class ListenOptions:
    """One listen run: transport, target, users, how fast to connect, when to stop."""

    kind: str = "socketio"
    config: ListenerConfig = field(default_factory=ListenerConfig)
    credentials: tuple[Credential, ...] = ()
    per_user: int = 1
    ramp: float | None = None
    duration: float | None = None
    fallback_poll: float | None = None
    fallback_after: float = 10.0
    tail: bool = True
    concurrency: int = 256
    # python-socketio costs ~43 KB per connection, the lean client ~22 KB (benchmarks/listen.py).
    lean_above: int = 1000
    ledger: str | None = None  # a send ledger to follow for exact latencies (wasim.ledger)
    id_paths: tuple[str, ...] = ()  # where events carry the id (wasim.correlate); () = anywhere
    figures: bool = False  # a listener process sends its live figures to its parent
    process: str = "1/1"  # which listener process this is, for its figures

    def assignments(self) -> Iterator[Credential]:
        for credential in self.credentials:
            for _ in range(self.per_user):
                yield credential

    def check(self) -> None:
        if not self.credentials:
            raise ConfigError("no user to listen as")
        if self.per_user < 1:
            raise ConfigError("--per-user must be at least 1")
        if self.ramp is not None and self.ramp <= 0:
            raise ConfigError("--ramp must be a positive rate (connections per second)")
        if self.kind not in PUSH_KINDS:
            raise ConfigError(f"--transport {self.kind!r}: choose one of {', '.join(PUSH_KINDS)}")
        if self.config.token_in not in (None, "header", "query"):
            raise ConfigError("--token-in must be header or query")
        if self.fallback_poll is not None and self.kind.startswith("poll"):
            raise ConfigError("--fallback-poll needs a push transport")


class Run:
    """The listeners of one process and what they add up to."""

    def __init__(self, options: ListenOptions, emit: Emit) -> None:
        self.options = options
        self.emit = emit
        self.summary = Summary(requested=sum(1 for _ in options.assignments()))
        self.listeners: list[Listener] = []
        self.first_error: WasimError | None = None
        self._consumers: list[asyncio.Task[None]] = []
        self._down: set[int] = set()
        self._http: httpx.AsyncClient | None = None
        ledger = Path(options.ledger) if options.ledger else None
        self.latencies = Latencies(ledger, self._deliver, options.id_paths)
        # What each listener already holds: an id is delivered once per listener.
        self._held: dict[int, dict[str, None]] = {}

    def http(self) -> httpx.AsyncClient:
        """One HTTP client for every SSE and polling listener of this process.

        A client per listener costs ~850 KB (its TLS context) and a slow start; shared, the
        listeners cost what their connections cost.
        """
        if self._http is None:
            config = self.options.config
            self._http = httpx.AsyncClient(
                timeout=httpx.Timeout(config.connect_timeout, read=config.read_timeout),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=None),
            )
        return self._http

    def build(self, credential: Credential) -> Listener:
        options = self.options
        config = options.config.for_user(credential.user, credential.token)
        kind = options.kind
        if kind == "socketio" and self.summary.requested > options.lean_above:
            kind = "socketio-lean"
        listener = make_listener(kind, config, self.http() if kind in HTTP_KINDS else None)
        if options.fallback_poll is not None and isinstance(listener, PushListener):
            return HybridListener(listener, options.fallback_poll, options.fallback_after)
        return listener

    async def start_all(self) -> None:
        """Open every listener, `ramp` per second or as fast as `concurrency` allows."""
        gate = asyncio.Semaphore(self.options.concurrency)
        begun = time.monotonic()
        starters = []
        for index, credential in enumerate(self.options.assignments()):
            if self.options.ramp:
                await asyncio.sleep(max(0.0, begun + index / self.options.ramp - time.monotonic()))
            await gate.acquire()
            starters.append(asyncio.create_task(self._start(credential, gate)))
        await asyncio.gather(*starters)

    async def _start(self, credential: Credential, gate: asyncio.Semaphore) -> None:
        listener = self.build(credential)
        try:
            await listener.connect()
        except WasimError as exc:
            self.first_error = self.first_error or exc
            self.summary.fail(str(exc))
            return
        finally:
            gate.release()
        self.summary.connected += 1
        self.listeners.append(listener)
        self._consumers.append(asyncio.create_task(self._consume(listener)))

    async def _consume(self, listener: Listener) -> None:
        key = id(listener)
        async for item in listener.items():
            if isinstance(item, Received):
                self.latencies.take(item, key)
            elif isinstance(item, StateChange):
                was_down = key in self._down
                if item.state == "reconnecting":
                    self._down.add(key)
                elif item.state == "connected":
                    self._down.discard(key)
                if item.state in ("reconnecting", "failed") or (
                    item.state == "connected" and was_down
                ):
                    self.emit(state_record(item))

    def _deliver(
        self,
        item: Received,
        listener: int,
        matches: list[Match],
        latency: float | None,
        source: Source | None,
    ) -> None:
        held = self._held.setdefault(listener, {})
        # Without a match in the ledger, the WhatsApp-shaped ids still tell messages apart.
        keys = [match.key for match in matches] or list(item.wamids)
        new = [k for k in keys if k not in held]
        for k in new:
            held[k] = None
        while len(held) > HELD_PER_LISTENER:
            del held[next(iter(held))]
        self.summary.record(item, matches, new, latency, source)
        if self.options.tail:
            self.emit(event_record(item, matches, latency, source))

    @property
    def connected_now(self) -> int:
        """Listeners that connected and are not down now."""
        return self.summary.connected - len(self._down)

    async def close_all(self) -> None:
        self.summary.down_at_end = len(self._down)
        await asyncio.gather(*(listener.close() for listener in self.listeners))
        await asyncio.gather(*self._consumers)
        await self.latencies.close()
        if self._http is not None:
            await self._http.aclose()
        for listener in self.listeners:
            self.summary.add_stats(listener.stats)
            if isinstance(listener, HybridListener):
                self.summary.poll_requests += listener.poller.stats.requests


@contextlib.asynccontextmanager
async def _reporting(run: Run, on_share: Callable[[LiveShare], None] | None) -> AsyncIterator[None]:
    if on_share is None:
        yield
        return
    from wasim.listen.figures import report  # imports wasim.bench: only when asked

    task = asyncio.create_task(report(run, on_share))
    try:
        yield
    finally:
        await cancel(task)


def resident_bytes() -> int:
    """This process's resident memory, to report what each listener costs."""
    return int(psutil.Process().memory_info().rss)


@contextlib.contextmanager
def stopping_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) ends the run with a summary instead of a traceback."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def listen(
    options: ListenOptions,
    emit: Emit,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
    on_share: Callable[[LiveShare], None] | None = None,
) -> Summary:
    """Hold every listener until `stop` is set or `duration` passes; return the summary.

    `on_share` gets this process's live figures once a second (wasim.listen.figures).
    If no listener could connect at all, raise the first refusal (AuthError, TargetError …).
    """
    options.check()
    stop = stop or asyncio.Event()
    run = Run(options, emit)
    begun = time.monotonic()
    rss_before = resident_bytes()
    with stopping_on_signals(stop) if handle_signals else contextlib.nullcontext():
        async with _reporting(run, on_share):
            run.latencies.start()
            starting = asyncio.create_task(run.start_all())
            waiting = asyncio.create_task(stop.wait())
            await asyncio.wait({starting, waiting}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                await starting
                if run.summary.connected == 0 and run.first_error is not None:
                    waiting.cancel()
                    await run.latencies.close()
                    raise run.first_error
                emit(
                    {
                        "type": "ready",
                        "at": time.time(),
                        "requested": run.summary.requested,
                        "connected": run.summary.connected,
                        "failed": run.summary.failed,
                        "failures": dict(run.summary.failures),
                        "seconds": time.monotonic() - begun,
                        "rss_before": rss_before,
                        "rss": resident_bytes(),
                    }
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiting, options.duration)
            else:
                await cancel(starting)
            waiting.cancel()
            await run.close_all()
    run.summary.duration = time.monotonic() - begun
    return run.summary
