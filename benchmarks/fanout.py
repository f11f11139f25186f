"""Fan-out and ingest, side by side: `wasim serve` against the seed's Node.js backend.

One instrument for both servers: raw Socket.IO v4 clients over WebSocket (benchmarks/
fanout_listeners.py), spread over listener processes, and signed webhooks sent on an open-model
schedule from this process. Latency = a listener holding a `new_message` minus its webhook's
scheduled send. Runs are interleaved (A B A B A B) so that both servers meet the same machine.
Each run prints p50/p90/p99/max, deliveries (missing, duplicated), server CPU seconds and RSS,
and the instrument's own CPU; the summary gives medians, spread and the ratios of each pair.

    npm ci --prefix benchmarks/reference
    python benchmarks/fanout.py --shape 5k --reps 3          # 50 users x 100 listeners, 75/s
    python benchmarks/fanout.py --shape 1k-500 --reps 3      # 1,000 users x 1, 500/s
    python benchmarks/fanout.py --ingest --reps 3            # wrk, signed webhooks/s (needs wrk)

A server is `reference` or `wasim[@CHECKOUT][:wN][:pg]`: `@CHECKOUT` runs an older `wasim serve`
from that source tree (PYTHONPATH), `:wN` runs `--workers N` over the local Redis (a channel of
its own), `:pg` stores in a fresh database on the local PostgreSQL instead of a SQLite file.
`--wasim-args` passes more options to every `wasim serve`:

    python benchmarks/fanout.py --ingest --servers wasim:pg,wasim:w2:pg --wrk-threads 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import re
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from fanout_listeners import Plan, listener_process

from wasim import defaults
from wasim.send import signature
from wasim.send.wire import Wire
from wasim.server import spawn_backend
from wasim.tokens import mint_token

HERE = Path(__file__).parent
REFERENCE = HERE / "reference"
REFERENCE_READY = "reference: listening on "
REDIS_URL = os.environ.get("WASIM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "WASIM_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
DRAIN_SECONDS = 15.0


@dataclass(frozen=True)
class Shape:
    users: int
    per_user: int
    rate: float
    seconds: float
    processes: int

    @property
    def listeners(self) -> int:
        return self.users * self.per_user


SHAPES = {
    "5k": Shape(users=50, per_user=100, rate=75, seconds=20, processes=2),
    "1k-100": Shape(users=1000, per_user=1, rate=100, seconds=20, processes=1),
    "1k-500": Shape(users=1000, per_user=1, rate=500, seconds=20, processes=1),
    "10k": Shape(users=100, per_user=100, rate=20, seconds=20, processes=2),
}


class Server:
    """A backend in a child process: its URL, and the CPU and memory of it and its children."""

    def __init__(self, label: str, wasim_args: list[str], tmp: Path) -> None:
        self.label = label
        self._backend: Any = None
        self.db: Path | None = None
        self.pg = ""
        if label == "reference":
            if not (REFERENCE / "node_modules").is_dir():
                sys.exit("run `npm ci --prefix benchmarks/reference` first")
            self._process = subprocess.Popen(
                ["node", str(REFERENCE / "server.js"), "0"], stdout=subprocess.PIPE, text=True
            )
            assert self._process.stdout is not None
            line = self._process.stdout.readline()
            if not line.startswith(REFERENCE_READY):
                self._process.kill()
                sys.exit(f"the reference backend did not start: {line!r}")
            self.url = line[len(REFERENCE_READY) :].strip()
            self.pid = self._process.pid
        else:
            name, *flags = label.split(":")
            _, _, checkout = name.partition("@")
            # PYTHONSAFEPATH: `python -m wasim` would otherwise put the current directory first
            # on sys.path, and run from a source tree, that tree's `wasim` beats the checkout's.
            env = {"PYTHONPATH": checkout, "PYTHONSAFEPATH": "1"} if checkout else None
            options = list(wasim_args)
            for flag in flags:
                if flag.startswith("w"):
                    channel = f"wasim-bench:{uuid.uuid4().hex}"
                    options += ["--workers", flag[1:], "--redis-url", REDIS_URL]
                    options += ["--redis-channel", channel]
            if "pg" in flags:
                self.pg = f"wasim_bench_{uuid.uuid4().hex[:12]}"
                asyncio.run(_admin(f'CREATE DATABASE "{self.pg}"'))
                options += ["--database-url", POSTGRES_URL.rsplit("/", 1)[0] + f"/{self.pg}"]
            elif not any(a.startswith("--database-url") for a in wasim_args):
                self.db = tmp / f"{os.getpid()}-{time.monotonic_ns()}.db"
                options += ["--database-url", f"sqlite+aiosqlite:///{self.db}"]
            self._backend = spawn_backend(*options, env=env, timeout=60)
            self.url = self._backend.url
            self.pid = self._backend.process.pid

    def processes(self) -> list[psutil.Process]:
        main = psutil.Process(self.pid)
        return [main, *main.children(recursive=True)]

    def cpu(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """User and system CPU seconds of the server and its children."""
        user = system = 0.0
        for p in self.processes():
            with _gone():
                t = p.cpu_times()
                user, system = user + t.user, system + t.system
        return user, system

    def rss(self) -> int:
        total = 0
        for p in self.processes():
            with _gone():
                total += p.memory_info().rss
        return total

    def stored(self) -> int:
        if self.pg:
            return int(asyncio.run(_admin("SELECT count(*) FROM messages", self.pg)))
        if self.db is not None:
            with sqlite3.connect(self.db) as db:
                return int(db.execute("select count(*) from messages").fetchone()[0])
        return int(httpx.get(self.url + "/healthz").json().get("messages", 0))

    def stop(self) -> None:
        if self._backend is not None:
            self._backend.stop()
            if self.pg:
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{self.pg}" WITH (FORCE)'))
        else:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            assert self._process.stdout is not None
            self._process.stdout.close()


async def _admin(statement: str, database: str = "") -> Any:
    import asyncpg

    dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    if database:
        dsn = dsn.rsplit("/", 1)[0] + f"/{database}"
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(statement)
    finally:
        await conn.close()


class _gone:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *_: object) -> bool:
        return kind is not None and issubclass(kind, psutil.Error)  # type: ignore[arg-type]


def phone(user: int) -> str:
    return f"52155{user:08d}"


def webhook(seq: int, tag: str, user: int) -> bytes:
    message = {
        "from": phone(user), "id": f"{tag}{seq:08d}=", "timestamp": str(int(time.time())),
        "type": "text", "text": {"body": f"fan-out {seq}"},
    }  # fmt: skip
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1"},
        "contacts": [{"profile": {"name": f"Contact {user}"}, "wa_id": phone(user)}],
        "messages": [message],
    }
    doc = {"object": "whatsapp_business_account",
           "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}]}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


async def open_conversations(url: str, tokens: dict[int, str]) -> None:
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def one(user: int) -> None:
            async with gate:
                answer = await client.post(
                    defaults.CONVERSATIONS_PATH,
                    json={"contact_phone": phone(user)},
                    headers={"Authorization": f"Bearer {tokens[user]}"},
                )
                answer.raise_for_status()

        await asyncio.gather(*(one(u) for u in tokens))


async def send(url: str, requests: list[bytes], t0: float, rate: float) -> dict[str, Any]:
    """Open model: POST i starts at t0 + i / rate whether or not earlier ones answered."""
    wire = Wire(url + defaults.WEBHOOK_PATH, timeout=30)
    lags = array("d")
    statuses: dict[str, int] = {}

    async def post(request: bytes) -> None:
        try:
            status = str(await wire.post(request))
        except Exception as exc:  # counted, never fatal: a lost webhook shows as missing
            status = type(exc).__name__
        statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    loop = asyncio.get_running_loop()
    for i, request in enumerate(requests):
        at = t0 + i / rate
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(time.monotonic() - at)
        tasks.append(loop.create_task(post(request)))
    await asyncio.gather(*tasks)
    wire.close()
    return {"statuses": statuses, "lag_p99_ms": percentile(sorted(lags), 0.99) * 1000}


def percentile(ordered: Any, q: float) -> float:
    if not ordered:
        return float("nan")
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_once(
    label: str, shape: Shape, wasim_args: list[str], tmp: Path, run: int
) -> dict[str, Any]:
    tag = f"wamid.FAN{run:04d}"
    total = int(shape.rate * shape.seconds)
    warmup = int(shape.rate * 2)
    tokens = {u: mint_token(f"fan{u:05d}", expires_in=3600) for u in range(shape.users)}
    server = Server(label, wasim_args, tmp)
    ctx = mp.get_context("spawn")
    children: list[tuple[Any, Any]] = []
    try:
        asyncio.run(open_conversations(server.url, tokens))
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        connections = [u for u in range(shape.users) for _ in range(shape.per_user)]
        rss0 = server.rss()
        for k in range(shape.processes):
            mine = connections[k :: shape.processes]
            plan = Plan(
                host=host, port=int(port), path=defaults.SOCKETIO_PATH, users=mine,
                tokens={u: tokens[u] for u in set(mine)}, user_count=shape.users, total=total,
                warmup=warmup, rate=shape.rate, tag=tag.encode(),
            )  # fmt: skip
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=listener_process, args=(plan, child), daemon=True)
            proc.start()
            children.append((proc, parent))
        connected = failed = 0
        for _, pipe in children:
            if not pipe.poll(300):
                raise RuntimeError("listeners did not connect within 300 s")
            _, ok, bad = pipe.recv()
            connected, failed = connected + ok, failed + bad
        time.sleep(1.0)  # let the server settle after the connection storm
        rss1 = server.rss()
        wire = Wire(server.url + defaults.WEBHOOK_PATH, timeout=30)
        requests = []
        for i in range(total):
            body = webhook(i, tag, i % shape.users)
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature(body, defaults.APP_SECRET),
            }
            requests.append(wire.request(body, headers))
        load_before = load()
        t0 = time.monotonic() + 0.5
        for _, pipe in children:
            pipe.send(t0)
        split0, own0 = server.cpu_split(), time.process_time()
        sent = asyncio.run(send(server.url, requests, t0, shape.rate))
        own = time.process_time() - own0
        results = []
        deadline = t0 + total / shape.rate + DRAIN_SECONDS
        for _, pipe in children:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                pipe.send("stop")
            results.append(pipe.recv()[1])
        split = [b - a for a, b in zip(split0, server.cpu_split(), strict=True)]
        cpu = sum(split)
        rss2 = server.rss()
        for _, pipe in children:
            pipe.send("close")
    finally:
        server.stop()
        for proc, _ in children:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    latencies = array("d")
    for r in results:
        latencies.frombytes(r["latencies"])
    ordered = sorted(latencies)
    received = sum(r["received"] for r in results)
    window = max(r["window"] for r in results)
    return {
        "server": label, "connected": connected, "failed": failed,
        "p50": percentile(ordered, 0.5) * 1000, "p90": percentile(ordered, 0.9) * 1000,
        "p99": percentile(ordered, 0.99) * 1000, "max": (ordered[-1] if ordered else 0) * 1000,
        "received": received, "expected": sum(r["expected"] for r in results),
        "missing": sum(r["missing"] for r in results),
        "duplicates": sum(r["duplicates"] for r in results),
        "cpu": cpu, "cpu_system": split[1], "cpu_per_delivery_us": cpu / max(received, 1) * 1e6,
        "cpu_per_webhook_ms": cpu / total * 1000,
        "rss_mb": rss2 / 2**20, "kb_per_connection": (rss1 - rss0) / 1024 / max(connected, 1),
        "listener_cpu": max(r["cpu"] / max(window, 1e-9) for r in results),
        "sender_cpu": own / max(window, 1e-9), "answers": sent["statuses"],
        "send_lag_p99_ms": sent["lag_p99_ms"], "load": f"{load_before} -> {load()}",
    }  # fmt: skip


def show(r: dict[str, Any]) -> str:
    return (
        f"{r['server']:>10}: p50 {r['p50']:.1f} ms, p90 {r['p90']:.1f}, p99 {r['p99']:.1f}, "
        f"max {r['max']:.0f} ms; {r['received']:,}/{r['expected']:,} delivered, "
        f"{r['missing']} missing, {r['duplicates']} duplicated; server CPU {r['cpu']:.1f} s "
        f"({r['cpu_system']:.1f} s system) "
        f"({r['cpu_per_delivery_us']:.0f} us/delivery, {r['cpu_per_webhook_ms']:.2f} ms/webhook), "
        f"RSS {r['rss_mb']:.0f} MB ({r['kb_per_connection']:.1f} KB/connection); "
        f"instrument: listener process {r['listener_cpu']:.0%} of a core, sender "
        f"{r['sender_cpu']:.0%}, send lag p99 {r['send_lag_p99_ms']:.1f} ms; answers "
        f"{r['answers']}; connected {r['connected']} ({r['failed']} failed); {r['load']}"
    )


FIGURES = [
    ("p50", "p50 ms", "{:.1f}"),
    ("p90", "p90 ms", "{:.1f}"),
    ("p99", "p99 ms", "{:.1f}"),
    ("max", "max ms", "{:.0f}"),
    ("cpu", "server CPU s", "{:.1f}"),
    ("cpu_per_delivery_us", "CPU us/delivery", "{:.0f}"),
    ("cpu_per_webhook_ms", "CPU ms/webhook", "{:.2f}"),
    ("kb_per_connection", "KB/connection", "{:.1f}"),
    ("rss_mb", "RSS MB", "{:.0f}"),
    ("listener_cpu", "listener proc CPU", "{:.0%}"),
]


def summarize(runs: list[dict[str, Any]], labels: list[str]) -> None:
    print("\n| figure | " + " | ".join(f"{lb} median (spread)" for lb in labels) + " | ratio "
          + " / ".join(labels[1:]) + f" to {labels[0]} (per pair) |")  # fmt: skip
    print("|---" * (len(labels) + 2) + "|")
    by = {lb: [r for r in runs if r["server"] == lb] for lb in labels}
    for key, name, fmt in FIGURES:
        cells = []
        for lb in labels:
            values = [r[key] for r in by[lb]]
            lo, hi = min(values), max(values)
            cells.append(
                f"{fmt.format(statistics.median(values))} ({fmt.format(lo)}-{fmt.format(hi)})"
            )
        ratios = []
        for lb in labels[1:]:
            pairs = [b[key] / a[key] if a[key] else float("nan")
                     for a, b in zip(by[labels[0]], by[lb], strict=False)]  # fmt: skip
            ratios.append(", ".join(f"{x:.2f}" for x in pairs))
        print(f"| {name} | " + " | ".join(cells) + " | " + " / ".join(ratios) + " |")
    for lb in labels:
        bad = sum(r["missing"] + r["duplicates"] for r in by[lb])
        print(f"{lb}: {sum(r['received'] for r in by[lb]):,} deliveries, "
              f"{bad} missing or duplicated over {len(by[lb])} runs")  # fmt: skip


def fanout(args: argparse.Namespace, labels: list[str], wasim_args: list[str]) -> None:
    shape = SHAPES[args.shape]
    if args.seconds:
        shape = Shape(shape.users, shape.per_user, shape.rate, args.seconds, shape.processes)
    if args.processes:
        shape = Shape(shape.users, shape.per_user, shape.rate, shape.seconds, args.processes)
    print(
        f"fan-out {args.shape}: {shape.users} users x {shape.per_user} listeners = "
        f"{shape.listeners:,}, {shape.rate:.0f} webhooks/s for {shape.seconds:.0f} s "
        f"(first 2 s not measured), {shape.processes} listener processes; {os.cpu_count()} "
        f"cores, {load()}",
        flush=True,
    )
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.reps):
            for label in labels:
                result = run_once(label, shape, wasim_args, Path(tmp), rep)
                print(f"run {rep + 1}: {show(result)}", flush=True)
                runs.append(result)
    summarize(runs, labels)


def wrk(url: str, bodies: Path, seconds: int, connections: int, threads: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s",
         str(HERE / "post.lua"), url, "--", str(bodies)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rate": rate, "answered": done, "non2xx": int(errors.group(1)) if errors else 0}


def ingest(args: argparse.Namespace, labels: list[str], wasim_args: list[str]) -> None:
    print(f"ingest: wrk -t{args.wrk_threads} -c{args.connections} -d{args.seconds or 10}s, "
          f"signed text webhooks from 200 contacts; {os.cpu_count()} cores, {load()}")  # fmt: skip
    seconds = int(args.seconds or 10)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.txt"
        with bodies.open("w") as out:
            for i in range(seconds * 15000):
                body = webhook(i, "wamid.ING0000", i % 200)
                out.write(f"{signature(body, defaults.APP_SECRET)}\t{body.decode()}\n")
        for rep in range(args.reps):
            for label in labels:
                server = Server(label, wasim_args, Path(tmp))
                try:
                    cpu0, started = server.cpu(), time.monotonic()
                    got = wrk(server.url + defaults.WEBHOOK_PATH, bodies, seconds,
                              args.connections, args.wrk_threads)  # fmt: skip
                    elapsed = time.monotonic() - started
                    cpu = server.cpu() - cpu0
                    stored = server.stored()
                finally:
                    server.stop()
                got.update(server=label, stored=stored, stored_rate=stored / elapsed, cpu=cpu)
                print(f"run {rep + 1}: {label:>10}: {got['rate']:,.0f} webhooks/s answered, "
                      f"{got['stored']:,} stored ({got['stored_rate']:,.0f}/s), "
                      f"{got['answered'] - got['non2xx']:,} answered 2xx, {got['non2xx']} non-2xx, "
                      f"server CPU {cpu:.1f} s; {load()}", flush=True)  # fmt: skip
                runs.append(got)
    for label in labels:
        rates = [r["rate"] for r in runs if r["server"] == label]
        print(f"{label}: median {statistics.median(rates):,.0f} webhooks/s "
              f"({min(rates):,.0f}-{max(rates):,.0f})")  # fmt: skip
    first = [r["rate"] for r in runs if r["server"] == labels[0]]
    for label in labels[1:]:
        pairs = [b["rate"] / a for a, b in zip(first, [r for r in runs if r["server"] == label],
                                               strict=False)]  # fmt: skip
        print(f"{label} / {labels[0]} per pair: " + ", ".join(f"{x:.2f}" for x in pairs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="5k")
    parser.add_argument("--reps", type=int, default=3, help="pairs of runs, interleaved")
    parser.add_argument("--servers", default="reference,wasim", help="comma-separated")
    parser.add_argument("--wasim-args", default="", help="extra `wasim serve` options")
    parser.add_argument("--seconds", type=float, default=0, help="override the send duration")
    parser.add_argument("--processes", type=int, default=0, help="override listener processes")
    parser.add_argument("--ingest", action="store_true", help="wrk ingest instead of fan-out")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads")
    args = parser.parse_args()
    labels = args.servers.split(",")
    wasim_args = shlex.split(args.wasim_args)
    (ingest if args.ingest else fanout)(args, labels, wasim_args)


if __name__ == "__main__":
    main()
