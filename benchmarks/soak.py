"""Soak: does `wasim serve` give back what connection churn takes, with and without --gc-freeze?

For each mode in turn (the default settings first, then `--no-gc-freeze`), for `--minutes`:
1,000 Socket.IO listeners (one per user, in a child process) connect, hold for `--hold`
seconds and leave, half with a clean close and half by aborting their TCP connection, wave
after wave, while webhooks arrive steadily (`--rate` a second, each to one listener's user).
The server's resident memory, open files and CPU time are sampled every `--sample` seconds
and printed as a table; after each wave, once every listener has left, one more sample is
taken ("between waves"). Verdict per mode: the last between-waves sample against the first
(the level after warm-up), both within 10%.

Example:
    python benchmarks/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import httpx
import psutil

from wasim import defaults
from wasim.payloads import PayloadFactory
from wasim.send import encode, signature
from wasim.server import SpawnedBackend, spawn_backend
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig, make_listener
from wasim.transports.socketio_lean import LeanSocketIOListener

MODES = {"default (--gc-freeze)": (), "--no-gc-freeze": ("--no-gc-freeze",)}


def users(count: int) -> list[str]:
    return [f"soak{n:05d}" for n in range(count)]


def phone_of(n: int) -> str:
    return f"52166{n:08d}"


def listeners_process(url: str, count: int, conn: Connection) -> None:
    """Child: on "connect" opens `count` lean Socket.IO listeners; on "leave" half close cleanly
    and half abort their sockets; replies with a short report each time."""

    async def one(user: str, gate: asyncio.Semaphore) -> LeanSocketIOListener | None:
        config = ListenerConfig(base_url=url, user=user, token=mint_token(user))
        listener = make_listener("socketio-lean", config)
        assert isinstance(listener, LeanSocketIOListener)
        async with gate:
            try:
                await listener.connect()
            except Exception:  # noqa: BLE001  counted, not fatal
                return None
        return listener

    async def main() -> None:
        held: list[LeanSocketIOListener] = []
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, conn.recv)) != "quit":
            started = time.monotonic()
            if command == "connect":
                gate = asyncio.Semaphore(100)
                opened = await asyncio.gather(*(one(u, gate) for u in users(count)))
                held = [listener for listener in opened if listener is not None]
                conn.send(f"{len(held)} connected in {time.monotonic() - started:.1f} s")
            elif command == "leave":
                for n, listener in enumerate(held):
                    if n % 2 and listener._ws is not None:
                        listener._ws.transport.abort()  # gone without a goodbye
                await asyncio.gather(*(listener.close() for listener in held))
                conn.send(f"{len(held)} left in {time.monotonic() - started:.1f} s")
                held = []

    asyncio.run(main())


async def open_chats(url: str, count: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        gate = asyncio.Semaphore(32)

        async def one(n: int, user: str) -> None:
            async with gate:
                answer = await client.post(
                    defaults.CONVERSATIONS_PATH,
                    json={"contact_phone": phone_of(n)},
                    headers={"Authorization": f"Bearer {mint_token(user)}"},
                )
                answer.raise_for_status()

        await asyncio.gather(*(one(n, u) for n, u in enumerate(users(count))))


async def webhooks(url: str, rate: float, count: int, stop: asyncio.Event) -> int:
    """Signed webhooks at `rate` a second, each to a random user's contact, until `stop`."""
    factory = PayloadFactory(seed=5)
    sent = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        start = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + sent / rate - time.monotonic()))
            update = factory.message("text", from_phone=phone_of(random.randrange(count)))
            body = encode(factory.envelope(update))
            headers = {"X-Hub-Signature-256": signature(body, defaults.APP_SECRET)}
            await client.post(defaults.WEBHOOK_PATH, content=body, headers=headers)
            sent += 1
    return sent


@dataclass
class Sample:
    at: float
    wave: int
    rss_mb: float
    open_files: int
    cpu_s: float
    between: bool = False


@dataclass
class Run:
    mode: str
    samples: list[Sample] = field(default_factory=list)
    waves: int = 0
    webhooks: int = 0

    def between(self) -> list[Sample]:
        return [s for s in self.samples if s.between]


def sample(backend: SpawnedBackend, started: float, wave: int, between: bool = False) -> Sample:
    process = psutil.Process(backend.process.pid)
    cpu = process.cpu_times()
    return Sample(
        time.monotonic() - started,
        wave,
        process.memory_info().rss / 2**20,
        process.num_fds(),
        cpu.user + cpu.system,
        between,
    )


async def soak(mode: str, options: tuple[str, ...], args: argparse.Namespace) -> Run:
    run = Run(mode)
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite+aiosqlite:///{Path(tmp) / 'soak.db'}"
        backend = spawn_backend("--database-url", database, *options)
        parent, child = mp.get_context("spawn").Pipe()
        proc = mp.get_context("spawn").Process(
            target=listeners_process, args=(backend.url, args.listeners, child)
        )
        proc.start()
        loop = asyncio.get_running_loop()

        async def ask(command: str) -> str:
            parent.send(command)
            return str(await loop.run_in_executor(None, parent.recv))

        try:
            await open_chats(backend.url, args.listeners)
            stop = asyncio.Event()
            sender = asyncio.create_task(webhooks(backend.url, args.rate, args.listeners, stop))
            started = time.monotonic()

            async def sampler() -> None:
                while True:
                    run.samples.append(sample(backend, started, run.waves))
                    await asyncio.sleep(args.sample)

            sampling = asyncio.create_task(sampler())
            while time.monotonic() - started < args.minutes * 60:
                run.waves += 1
                connected = await ask("connect")
                await asyncio.sleep(args.hold)
                left = await ask("leave")
                await asyncio.sleep(args.settle)  # the server notices the aborted sockets
                run.samples.append(sample(backend, started, run.waves, between=True))
                last = run.samples[-1]
                print(
                    f"  {mode} wave {run.waves}: {connected}, {left}; "
                    f"RSS {last.rss_mb:.1f} MB, {last.open_files} open files",
                    flush=True,
                )
            sampling.cancel()
            stop.set()
            run.webhooks = await sender
        finally:
            parent.send("quit")
            proc.join(30)
            backend.stop()
    return run


def render(runs: list[Run], sample_every: float) -> None:
    print(f"\nserver RSS (MB) and open files, sampled every {sample_every:.0f} s:")
    header = " ".join(f"| {r.mode:^27} " for r in runs)
    print(f"| {'t (s)':>6} {header}|")
    print(f"|{'-' * 8}" + "|:---:" * 0 + "".join(f"|{'-' * 29}" for _ in runs) + "|")
    rows = max(len([s for s in r.samples if not s.between]) for r in runs)
    for i in range(rows):
        cells = []
        at = ""
        for r in runs:
            timed = [s for s in r.samples if not s.between]
            if i < len(timed):
                s = timed[i]
                at = f"{s.at:.0f}"
                cells.append(f"| w{s.wave:<3} {s.rss_mb:7.1f} MB {s.open_files:5d} files ")
            else:
                cells.append(f"| {'':27} ")
        print(f"| {at:>6} {''.join(cells)}|")
    print()
    for r in runs:
        between = r.between()
        first, final = between[0], between[-1]
        cpu = r.samples[-1].cpu_s
        print(
            f"{r.mode}: {r.waves} waves, {r.webhooks} webhooks, server CPU {cpu:.0f} s; "
            f"between waves RSS {first.rss_mb:.1f} -> {final.rss_mb:.1f} MB "
            f"({(final.rss_mb / first.rss_mb - 1) * 100:+.1f}%, range "
            f"{min(s.rss_mb for s in between):.1f}-{max(s.rss_mb for s in between):.1f}), "
            f"open files {first.open_files} -> {final.open_files}: "
            + (
                "flat (within 10%)"
                if final.rss_mb <= first.rss_mb * 1.1 and final.open_files <= first.open_files * 1.1
                else "NOT flat"
            )
        )


async def main(args: argparse.Namespace) -> None:
    runs = []
    for mode, options in MODES.items():
        print(f"{mode}: {args.minutes} min of waves of {args.listeners} listeners", flush=True)
        runs.append(await soak(mode, options, args))
    render(runs, args.sample)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="per mode")
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks a second")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds each wave stays")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after it leaves")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    asyncio.run(main(parser.parse_args()))
