"""`wasim serve --workers N`: N backend processes on one port, each restarted when it dies.

Every worker binds its own listening socket to the same address with `SO_REUSEPORT`, so the
kernel spreads new connections over the workers that are up (and only those: while one
restarts, the others take its share). The supervisor holds the port with a bound socket that
never listens, which also fixes the port when 0 asked for a free one. The workers share the
database and fan out over Redis (`fanout.RedisHub`): a webhook stored by one reaches the
listeners of all, exactly once and in order, and a listener whose worker died resumes on any
worker from its last event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from wasim.errors import ConfigError, TargetError
from wasim.server import bind_socket, serve, url_of
from wasim.workers import run_fast

if TYPE_CHECKING:
    from mock_backend import Settings

log = logging.getLogger("wasim.workers")
READY_TIMEOUT = 60.0
RESTART_BACKOFF_MAX = 5.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs (pickled into it)."""

    settings: Settings
    host: str
    port: int
    log_level: str
    gc_freeze: bool


def _worker(spec: WorkerSpec, ready: Connection) -> None:
    """A worker process: the whole backend on its own SO_REUSEPORT socket."""
    _die_with_parent()
    from mock_backend import create_app

    app = create_app(spec.settings)
    sock = bind_socket(spec.host, spec.port, reuse_port=True)

    def announce(_: str) -> None:
        ready.send(os.getpid())
        ready.close()

    coro = serve(app, sock, log_level=spec.log_level, on_ready=announce, gc_freeze=spec.gc_freeze)
    run_fast(coro)


def _die_with_parent() -> None:
    # Linux: a worker gets SIGTERM when its supervisor dies, even by SIGKILL.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    """Starts the workers, restarts any that exits, stops them all at the end."""

    def __init__(self, spec: WorkerSpec, count: int) -> None:
        self.spec = spec
        self.count = count
        self._context = mp.get_context("spawn")
        self.processes: list[BaseProcess] = []

    def start(self, index: int) -> tuple[BaseProcess, Connection]:
        parent, child = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker, args=(self.spec, child), name=f"wasim-worker-{index}", daemon=True
        )
        process.start()
        child.close()
        return process, parent

    def wait_ready(self, process: BaseProcess, pipe: Connection, timeout: float) -> None:
        try:
            if not pipe.poll(timeout):
                process.terminate()
                raise TargetError(f"worker {process.name} did not start within {timeout:.0f} s")
            pipe.recv()
        except EOFError:
            process.join(5)
            raise TargetError(
                f"worker {process.name} exited with code {process.exitcode} before serving"
            ) from None
        finally:
            pipe.close()

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


async def serve_workers(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    *,
    log_level: str = "warning",
    gc_freeze: bool = True,
    on_ready: Callable[[str, list[int]], None] | None = None,
) -> None:
    """Serve the bundled backend from `workers` processes on one port until cancelled or signalled.

    Needs `settings.redis_url`: without it a worker's listeners would hear only the webhooks that
    worker received.
    """
    if not settings.redis_url:
        raise ConfigError(
            f"--workers {workers} needs --redis-url: the workers share their events over Redis"
        )
    holder = bind_socket(host, port, listen=False, reuse_port=True)
    url = url_of(holder)
    spec = WorkerSpec(settings, host, holder.getsockname()[1], log_level, gc_freeze)
    supervisor = Supervisor(spec, workers)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stopping.set)
    try:
        for index in range(workers):
            process, pipe = supervisor.start(index)
            supervisor.processes.append(process)
            await asyncio.to_thread(supervisor.wait_ready, process, pipe, READY_TIMEOUT)
        if on_ready is not None:
            on_ready(url, [p.pid or 0 for p in supervisor.processes])
        await _watch(supervisor, stopping)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await asyncio.to_thread(supervisor.stop)
        holder.close()


def _ended(sentinels: list[int]) -> list[int]:
    return [s for s in wait(sentinels, 0.5) if isinstance(s, int)]


async def _watch(supervisor: Supervisor, stopping: asyncio.Event) -> None:
    """Restart each worker that exits (backing off if it keeps dying) until told to stop."""
    backoff = 0.0
    while not stopping.is_set():
        sentinels = [p.sentinel for p in supervisor.processes]
        waiting = asyncio.ensure_future(asyncio.to_thread(_ended, sentinels))
        stopped = asyncio.ensure_future(stopping.wait())
        await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        ended = await waiting
        if stopping.is_set():
            return
        for index, process in enumerate(supervisor.processes):
            if process.sentinel not in ended:
                continue
            process.join()
            log.warning(
                "worker %s (pid %s) exited with code %s; restarting it",
                process.name,
                process.pid,
                process.exitcode,
            )
            if backoff:
                await asyncio.sleep(backoff)
            started = time.monotonic()
            replacement, pipe = supervisor.start(index)
            supervisor.processes[index] = replacement
            try:
                await asyncio.to_thread(supervisor.wait_ready, replacement, pipe, READY_TIMEOUT)
            except TargetError as exc:
                log.warning("%s", exc)
            quick = time.monotonic() - started < 1.0 and not replacement.is_alive()
            backoff = min(RESTART_BACKOFF_MAX, backoff * 2 or 0.1) if quick else 0.0
