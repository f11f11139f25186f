"""What matching received events to sent messages costs: CPU per event, memory, capacity.

Run: python benchmarks/matcher.py                  # everything, ~7 minutes on 2 cores
     python benchmarks/matcher.py --count 2000     # a quick run
     python benchmarks/matcher.py --part throughput   (or held, capacity)
     python benchmarks/matcher.py --current HEAD   # current side = a commit, not the checkout

1. Matching throughput, in this process, CPU only. Events shaped like the bundled backend's
   `new_message` and `conversation_updated` (captured from `wasim serve`) and like a foreign
   backend's (the id under `data.msg.whatsapp_id`, or only a text marker in `lastMessage`) are
   matched against the index of a long run's send ledger (`--ids` sent ids, each with a marker)
   by (a) the baseline: commit 8f6ce5e's fixed-key `wamids_of` and a dict lookup, (b) `Matcher`
   searching every string (the default) and (c) `Matcher` looking only at configured `paths`.
   The three alternate, in a rotating order, for `--match-rounds` rounds of `--events` events;
   it prints events/s (median, min-max), the ratio to the baseline (of the medians, and the
   per-round range) and how many events each variant matched.
2. Held ids. `wasim listen` remembers, per listener, the ids it has delivered (up to
   HELD_PER_LISTENER) so each message counts once; 8f6ce5e kept nothing per listener. Events
   go through the runner's own delivery (parse, match, `Run._deliver`) and tracemalloc gives
   the memory kept per listener after 1 … 8,192 messages each.
3. Listener capacity with default matching. `--count` lean Socket.IO listeners (the client
   `wasim listen` picks above 1,000) over `--processes` processes against the bundled backend
   follow a send ledger. Every user is sent one message (signed webhooks of 100 messages, as
   benchmarks/listen.py does) whose id is written to the ledger just before its POST, so each
   event goes through the matcher and must reach its listener with a latency from the ledger.
   The baseline is the code of commit 8f6ce5e, checked out in a temporary git worktree and run
   with the same python (PYTHONPATH), alternating with the current code: baseline, current, …
   `--rounds` times each. Each round holds its listeners in a child process running whichever
   `wasim` it is given, and starts once the backend has closed the last round's sockets. It
   prints connected, RSS per listener once connected (the growth of the listener processes
   over the count, as benchmarks/listen.py) and again after the broadcast (when every listener
   holds its message), delivery, and the listener processes' CPU time for the broadcast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from listen import BATCH, batch_body, gather_limited, open_chats, signed

from wasim import defaults
from wasim.ledger import LedgerWriter
from wasim.listen import Credential, ListenOptions
from wasim.listen.processes import listen_spread
from wasim.payloads.ids import wamid as new_wamid
from wasim.server import SpawnedBackend, spawn_backend
from wasim.tokens import mint_token
from wasim.transports import ListenerConfig

# wasim.correlate is imported where it is used: the listener side of part 3 also runs the
# baseline's tree, which has no such module.

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "8f6ce5e"
DOCUMENTS = 10_000  # distinct events per workload, cycled until --events are matched
PATHS = {
    "bundled": ("message.wamid", "conversation.last_message.wamid"),
    "foreign": ("data.msg.whatsapp_id", "lastMessage"),
}
DELIVERY_S = 120.0  # a broadcast not delivered by then is reported as it stands
TARGET = 1.10  # current RSS per listener <= TARGET x the baseline
WEBHOOK = defaults.WEBHOOK_PATH
OPEN_SOCKETS = 'wasim_open_connections{transport="socketio"}'
HELD_LISTENERS = 10
HELD_DEPTHS = (1, 100, 1_000, 4_096, 8_192)  # messages each listener receives
Find = Callable[[Any], list[Any]]


def wamids_of(data: dict[str, Any]) -> tuple[str, ...]:
    """The baseline, verbatim from wasim/transports/_push.py at commit 8f6ce5e."""
    found: list[str] = []
    message = data.get("message")
    if isinstance(message, dict) and isinstance(message.get("wamid"), str):
        found.append(message["wamid"])
    conversation = data.get("conversation")
    if isinstance(conversation, dict):
        last = conversation.get("last_message")
        if isinstance(last, dict) and isinstance(last.get("wamid"), str):
            found.append(last["wamid"])
    if isinstance(data.get("wamid"), str):
        found.append(data["wamid"])
    return tuple(found)


def bundled_events(wamid: str, n: int) -> list[dict[str, Any]]:
    """`new_message` and `conversation_updated` as `wasim serve` pushes them (captured)."""
    message = {
        "id": n,
        "wamid": wamid,
        "conversation_id": n,
        "direction": "inbound",
        "from": f"52155{n:08d}",
        "type": "text",
        "text": "Hello there",
        "timestamp": "1795929738",
        "status": "received",
        "created_at": "2026-11-29T05:22:18.766517+00:00",
    }
    conversation = {
        "id": n,
        "owner": f"user{n}",
        "contact_phone": f"52155{n:08d}",
        "contact_name": None,
        "unread_count": 1,
        "last_message": dict(message),
        "updated_at": "2026-11-29T05:22:18.766517+00:00",
    }
    return [
        {"event_id": 2 * n - 1, "conversation_id": n, "message": message},
        {"event_id": 2 * n, "conversation": conversation},
    ]


def foreign_events(wamid: str, code: str, n: int) -> list[dict[str, Any]]:
    """A backend that renames everything: the id deep inside, or only the text and its marker."""
    msg = {
        "whatsapp_id": wamid,
        "text": f"Hello there #{code}",
        "from": f"52155{n:08d}",
        "at": "2026-11-29T05:22:18Z",
    }
    return [
        {"chatId": f"chat_{n}", "data": {"msg": msg}},
        {"chatId": f"chat_{n}", "lastMessage": f"Hello #{code}", "unreadCount": 3},
    ]


def ledger_index(size: int, rng: random.Random) -> tuple[dict[str, float], dict[str, str]]:
    """What a follower of a long run's ledger holds: id -> scheduled start, marker -> id."""
    from wasim.correlate import new_marker

    ids: dict[str, float] = {}
    markers: dict[str, str] = {}
    now = time.time()
    while len(ids) < size:
        wamid = new_wamid(rng, f"52155{rng.randrange(10**8):08d}")
        ids[wamid] = now + len(ids) / 1000
    for wamid in ids:
        code = new_marker(rng)
        while code in markers:
            code = new_marker(rng)
        markers[code] = wamid
    return ids, markers


def events_per_second(find: Find, documents: list[Any], events: int) -> float:
    passes = max(1, events // len(documents))
    begun = time.perf_counter()
    for _ in range(passes):
        for document in documents:
            find(document)
    return passes * len(documents) / (time.perf_counter() - begun)


def spread(values: list[float], digits: int = 0) -> str:
    return f"{min(values):,.{digits}f}-{max(values):,.{digits}f}"


def throughput(size: int, events: int, rounds: int) -> None:
    from wasim.correlate import Matcher

    rng = random.Random(20261129)
    ids, markers = ledger_index(size, rng)
    codes = {wamid: code for code, wamid in markers.items()}
    sample = rng.sample(list(ids), DOCUMENTS // 2)
    workloads = {
        "bundled": [e for n, w in enumerate(sample, 1) for e in bundled_events(w, n)],
        "foreign": [e for n, w in enumerate(sample, 1) for e in foreign_events(w, codes[w], n)],
    }
    print(
        f"matching throughput: {size:,} sent ids and {len(markers):,} markers indexed, "
        f"{DOCUMENTS:,} distinct events per workload, {rounds} rounds of {events:,} events, "
        f"variants interleaved; one core, CPU only",
        flush=True,
    )
    print(
        f"{'workload':<9} {'variant':<64} {'events/s median':>15} {'min-max':>19} "
        f"{'x baseline':>10} {'per round':>11} {'matched':>13}"
    )
    for workload, documents in workloads.items():
        variants: dict[str, Find] = {
            "baseline: wamids_of (8f6ce5e) + dict lookup": (
                lambda d: [w for w in wamids_of(d) if w in ids]
            ),
            "Matcher, default search (every string)": Matcher(ids, markers).find,
            f"Matcher, paths {','.join(PATHS[workload])}": Matcher(
                ids, markers, PATHS[workload]
            ).find,
        }
        names = list(variants)
        rates: dict[str, list[float]] = {name: [] for name in names}
        for r in range(rounds):
            for name in names[r % 3 :] + names[: r % 3]:
                rates[name].append(events_per_second(variants[name], documents, events))
        base = rates[names[0]]
        for name in names:
            found = sum(1 for d in documents if variants[name](d))
            ratios = [a / b for a, b in zip(rates[name], base, strict=True)]
            ratio = statistics.median(rates[name]) / statistics.median(base)
            print(
                f"{workload:<9} {name:<64} {statistics.median(rates[name]):>15,.0f} "
                f"{spread(rates[name]):>19} {ratio:>10.2f} {spread(ratios, 2):>11} "
                f"{found:>6}/{len(documents)}"
            )


# ---- part 2: held ids ----------------------------------------------------------------------


def held_memory(listeners: int, depths: tuple[int, ...]) -> None:
    """Memory a listener keeps per message it has held, through the listen runner's own path."""
    from wasim.correlate import Matcher
    from wasim.listen.runner import HELD_PER_LISTENER, Run
    from wasim.transports.base import Received

    print(f"\nheld ids: what `wasim listen` keeps per listener to count each message once "
          f"(HELD_PER_LISTENER = {HELD_PER_LISTENER:,}; 8f6ce5e kept none); {listeners} "
          f"listeners, new_message events parsed, matched and delivered, tracemalloc",
          flush=True)  # fmt: skip
    print(f"{'messages per listener':>21} {'KB per listener':>15} {'bytes per held id':>17}")
    rng = random.Random(20261129)
    for depth in depths:
        sent = [[new_wamid(rng, f"52155{n:08d}") for _ in range(depth)] for n in range(listeners)]
        matcher = Matcher({wamid: 0.0 for wamids in sent for wamid in wamids})
        bodies = [
            [json.dumps(bundled_events(wamid, n)[0]).encode() for wamid in wamids]
            for n, wamids in enumerate(sent)
        ]
        who = (Credential("user1", "-"),)
        run = Run(ListenOptions(credentials=who, tail=False), lambda record: None)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for j in range(depth):
            for n in range(listeners):
                data = json.loads(bodies[n][j])
                item = Received("socketio", f"user{n}", "new_message", data, time.time())
                # What Run._consume does for each event, without a connection or a ledger file.
                run._deliver(item, n, matcher.find(data), None, None)
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        held = min(depth, HELD_PER_LISTENER)
        print(f"{depth:>21,} {grown / listeners / 1024:>15.1f} "
              f"{grown / listeners / held:>17.0f}", flush=True)  # fmt: skip


# ---- part 3: listener capacity -------------------------------------------------------------


@dataclass
class Tally:
    """What one round's listeners received, counted in the listener process."""

    expect: int
    users: set[str] = field(default_factory=set)  # users given an event timed by the ledger
    pairs: set[tuple[str, str]] = field(default_factory=set)  # (user, wamid) of those events
    latencies_ms: list[float] = field(default_factory=list)
    events: int = 0
    matched_field: bool = False  # event records say `matched`: the current code ran
    complete_at: float | None = None

    def take(self, record: dict[str, Any]) -> None:
        self.events += 1
        self.matched_field = self.matched_field or "matched" in record
        if record.get("latency_source") != "ledger":
            return
        self.users.add(record["user"])
        self.pairs.update((record["user"], w) for w in record["wamids"])
        self.latencies_ms.append(record["latency_ms"])
        if len(self.users) == self.expect and self.complete_at is None:
            self.complete_at = time.time()


def drive_listeners() -> None:
    """One round's listener side, in its own process, with whichever `wasim` is on PYTHONPATH.

    Reads the job (one JSON line) on stdin, prints `ready`, `progress` and `done` records on
    stdout, and stops its listeners when stdin says `stop` (or closes).
    """
    asyncio.run(_drive(json.loads(sys.stdin.readline())))


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def _say(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


async def _drive(job: dict[str, Any]) -> None:
    import wasim

    tally = Tally(job["count"])
    ready: dict[str, Any] = {}
    is_ready = asyncio.Event()

    def emit(record: dict[str, Any]) -> None:
        if record["type"] == "ready":
            ready.update(record)
            is_ready.set()
        elif record["type"] == "event":
            tally.take(record)

    # Every event, as `wasim listen` keeps by default; the lean client it picks above 1,000.
    config = ListenerConfig(base_url=job["url"], events=defaults.EVENTS, connect_timeout=60)
    who = tuple(Credential(user, token) for user, token in job["credentials"])
    options = ListenOptions(kind="socketio-lean", config=config, credentials=who,
                            concurrency=200, ledger=job["ledger"])  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(listen_spread(options, emit, job["processes"], stop))
    waiting = asyncio.create_task(is_ready.wait())
    await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not is_ready.is_set():
        waiting.cancel()
        try:
            await running
            message = "the listeners ended before all were connected"
        except Exception as exc:  # the parent prints it
            message = f"{type(exc).__name__}: {exc}"
        _say({"type": "error", "message": message})
        return
    me = psutil.Process()
    cpu_ready = cpu_seconds(me.children())
    _say({**ready, "wasim": wasim.__file__, "pids": [p.pid for p in me.children()]})
    told = asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    while not told.done():
        _say({"type": "progress", "delivered": len(tally.users)})
        await asyncio.wait({told}, timeout=0.1)
    rss_after = sum(p.memory_info().rss for p in me.children())
    cpu = cpu_seconds(me.children()) - cpu_ready
    stop.set()
    summary = await running
    latencies = sorted(tally.latencies_ms)
    _say({"type": "done", "rss_after": rss_after, "cpu": cpu, "pairs": sorted(tally.pairs),
          "complete_at": tally.complete_at, "events": tally.events,
          "matched_field": tally.matched_field, "reconnects": summary.reconnects,
          "p50_ms": latencies[len(latencies) // 2] if latencies else None})  # fmt: skip


@dataclass(frozen=True)
class Round:
    wasim: str  # where the listener processes imported wasim from
    connected: int
    failures: dict[str, int]  # why listeners did not connect, and how many
    connect_seconds: float
    rss_ready_kb: float  # per listener, once connected
    rss_after_kb: float  # per listener, once every listener holds its message
    cpu_seconds: float  # the listener processes' CPU time (user + system) for the broadcast
    delivered: int  # users that received their message, timed by the ledger
    expected: int
    delivery_seconds: float | None  # first POST -> the last user's first ledger-timed event
    p50_ms: float | None
    events: int
    matched_field: bool
    reconnects: int


async def broadcast_noted(
    url: str, count: int, round_id: str, ledger: Path
) -> tuple[dict[str, int], float]:
    """One message to every user, each id written to the ledger just before its POST."""
    writer = LedgerWriter(ledger)
    expected: dict[str, int] = {}
    begun = time.time()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:

            async def post(numbers: list[int]) -> None:
                body, wamids = batch_body(numbers, round_id)
                expected.update(wamids)
                now = time.time()
                writer.note(wamids, (), now, now)
                writer.flush()
                response = await client.post(WEBHOOK, content=body, headers=signed(body))
                response.raise_for_status()

            everyone = list(range(1, count + 1))
            batches = [everyone[i : i + BATCH] for i in range(0, count, BATCH)]
            await gather_limited([post(b) for b in batches], 4)
    finally:
        writer.close()
    return expected, begun


async def _record(driver: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
    assert driver.stdout is not None
    line = await asyncio.wait_for(driver.stdout.readline(), timeout)
    if not line:
        raise RuntimeError("the listener process ended early (its stderr is above)")
    record: dict[str, Any] = json.loads(line)
    if record["type"] == "error":
        raise RuntimeError(f"the listener process failed: {record['message']}")
    return record


async def one_round(
    url: str, count: int, processes: int, code: Path, round_id: str, workdir: Path
) -> Round:
    """Hold `count` listeners run from the tree `code`, broadcast, wait for every delivery."""
    ledger = workdir / f"sent-{round_id}.jsonl"
    credentials = [[f"user{n}", mint_token(f"user{n}")] for n in range(1, count + 1)]
    job = {"url": url, "count": count, "processes": processes, "ledger": str(ledger),
           "credentials": credentials}  # fmt: skip
    # cwd and PYTHONPATH both: `python -m wasim.listen.child` puts the cwd first on sys.path.
    driver = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve()), "--listener-driver",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)}, start_new_session=True, limit=1 << 26,
    )  # fmt: skip
    assert driver.stdin is not None
    pids: list[int] = []
    try:
        driver.stdin.write(json.dumps(job).encode() + b"\n")
        await driver.stdin.drain()
        ready = await _record(driver, max(300.0, count / 10))
        pids = ready["pids"]
        expected, sent_at = await broadcast_noted(url, count, round_id, ledger)
        deadline = time.monotonic() + DELIVERY_S
        while (record := await _record(driver, 60))["type"] == "progress":
            if record["delivered"] >= count or time.monotonic() > deadline:
                driver.stdin.write(b"stop\n")
                await driver.stdin.drain()
                break
        while (record := await _record(driver, 120))["type"] != "done":
            pass
        await asyncio.wait_for(driver.wait(), 60)
    finally:
        await _stop(driver, pids)
    held = {(user, wamid) for user, wamid in record["pairs"]}
    connected = max(ready["connected"], 1)
    return Round(
        wasim=ready["wasim"],
        connected=ready["connected"],
        failures=ready.get("failures", {}),
        connect_seconds=ready["seconds"],
        rss_ready_kb=(ready["rss"] - ready["rss_before"]) / connected / 1024,
        rss_after_kb=(record["rss_after"] - ready["rss_before"]) / connected / 1024,
        cpu_seconds=record["cpu"],
        delivered=sum(1 for w, n in expected.items() if (f"user{n}", w) in held),
        expected=len(expected),
        delivery_seconds=record["complete_at"] - sent_at if record["complete_at"] else None,
        p50_ms=record["p50_ms"],
        events=record["events"],
        matched_field=record["matched_field"],
        reconnects=record["reconnects"],
    )


async def _stop(driver: asyncio.subprocess.Process, pids: list[int]) -> None:
    """Let the listener process stop its listeners; kill it and them if it will not."""
    if driver.returncode is None:
        assert driver.stdin is not None
        with contextlib.suppress(OSError):
            driver.stdin.close()  # end of stdin: the driver stops its listeners
        try:
            await asyncio.wait_for(driver.wait(), 30)
        except TimeoutError:
            driver.kill()
            await driver.wait()
    for pid in pids:  # its listener children, each in a session of its own; gone normally
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def settle(backend: SpawnedBackend, limit: float = 300.0) -> float:
    """Wait until the backend has let go of the last round's sockets and is idle again.

    Closing 10,000 sockets keeps it busy for a while; a round started meanwhile loses its first
    wave of connections to the connect timeout, whichever code the listeners run.
    """
    process = psutil.Process(backend.process.pid)
    process.cpu_percent()
    begun = time.monotonic()
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        while time.monotonic() - begun < limit:
            await asyncio.sleep(1.0)
            try:
                metrics = (await client.get("/metrics")).text
            except httpx.TimeoutException:
                continue
            gauge = next(line for line in metrics.splitlines() if line.startswith(OPEN_SOCKETS))
            if float(gauge.split()[-1]) == 0 and process.cpu_percent() < 20:
                break
    return time.monotonic() - begun


@contextlib.contextmanager
def code_tree(commit: str) -> Iterator[Path]:
    """The code of `commit` in a temporary git worktree, removed afterwards."""
    where = Path(tempfile.mkdtemp(prefix="wasim-matcher-tree-")) / "tree"
    git = ["git", "-C", str(ROOT), "worktree"]
    subprocess.run([*git, "add", "--detach", "--quiet", str(where), commit], check=True)
    try:
        yield where
    finally:
        subprocess.run([*git, "remove", "--force", str(where)], check=False)
        shutil.rmtree(where.parent, ignore_errors=True)


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout


def code_label(commit: str | None) -> str:
    """Which code a side ran: a commit, or this checkout (and whether wasim/ has edits)."""
    if commit is not None:
        return git("rev-parse", "--short", commit).strip()
    dirty = " + edits" if git("status", "--porcelain", "wasim").strip() else ""
    return f"checkout {git('rev-parse', '--short', 'HEAD').strip()}{dirty}"


def print_round(n: int, side: str, label: str, r: Round, count: int, idle: float) -> None:
    took = r.delivery_seconds if r.delivery_seconds is not None else float("nan")
    p50 = r.p50_ms if r.p50_ms is not None else float("nan")
    print(f"{n:<5} {side:<8} {label:<22} {idle:>6.0f} {r.connected:>6}/{count:<6} "
          f"{r.connect_seconds:>5.0f} "
          f"{r.rss_ready_kb:>10.1f} {r.rss_after_kb:>10.1f} {r.delivered:>6}/{r.expected:<6} "
          f"{took:>5.1f} {p50:>7.0f} {r.cpu_seconds:>6.1f} {r.events:>7} {r.reconnects:>6}",
          flush=True)  # fmt: skip
    for reason, times in list(r.failures.items())[:3]:
        print(f"      failed x{times}: {reason}")


async def capacity(
    count: int, processes: int, rounds: int, baseline: str, current: str | None
) -> None:
    results: dict[str, list[Round]] = {"baseline": [], "current": []}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wasim-matcher-")))
        old = stack.enter_context(code_tree(baseline))
        trees = {
            "baseline": old,
            "current": stack.enter_context(code_tree(current)) if current else ROOT,
        }
        labels = {"baseline": code_label(baseline), "current": code_label(current)}
        backend = spawn_backend("--database-url", f"sqlite+aiosqlite:///{workdir / 'b.db'}")
        stack.callback(backend.stop)
        print(f"\nlistener capacity: {count:,} lean Socket.IO listeners over {processes} "
              f"processes, every event matched (default search) against a send ledger; "
              f"backend {backend.url}", flush=True)  # fmt: skip
        began = time.monotonic()
        await open_chats(backend.url, range(1, count + 1))
        print(f"({count:,} chats opened in {time.monotonic() - began:.0f} s)")
        print(f"{'round':<5} {'side':<8} {'code':<22} {'settle':>6} {'connected':>13} {'in s':>5} "
              f"{'KB/l ready':>10} {'KB/l after':>10} {'delivered':>13} {'in s':>5} "
              f"{'p50 ms':>7} {'CPU s':>6} {'events':>7} {'reconn':>6}", flush=True)  # fmt: skip
        for n in range(1, rounds + 1):
            for side in ("baseline", "current"):
                idle = await settle(backend)
                tree = trees[side]
                r = await one_round(backend.url, count, processes, tree, f"R{n}{side}", workdir)
                if not r.wasim.startswith(str(tree)) or r.matched_field != (side == "current"):
                    raise RuntimeError(f"the {side} listeners ran {r.wasim}, not {tree}")
                results[side].append(r)
                print_round(n, side, labels[side], r, count, idle)
    verdict(results, count)


def verdict(results: dict[str, list[Round]], count: int) -> None:
    for what in ("ready", "after"):
        old = [r.rss_ready_kb if what == "ready" else r.rss_after_kb for r in results["baseline"]]
        new = [r.rss_ready_kb if what == "ready" else r.rss_after_kb for r in results["current"]]
        ratio = statistics.median(new) / statistics.median(old)
        moment = "once connected" if what == "ready" else "after the broadcast"
        print(f"RSS per listener {moment}: current median {statistics.median(new):.1f} KB "
              f"({spread(new, 1)}), baseline {statistics.median(old):.1f} KB ({spread(old, 1)}); "
              f"ratio {ratio:.3f}: {'met' if ratio <= TARGET else 'MISSED'} "
              f"(target <= {TARGET:.2f})")  # fmt: skip
    for side, rounds in results.items():
        whole = sum(1 for r in rounds if r.connected == count and r.delivered == count)
        print(f"{side}: {count:,} of {count:,} connected and delivered (ledger-timed) in "
              f"{whole} of {len(rounds)} rounds")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--part", choices=("all", "throughput", "held", "capacity"), default="all")
    add("--ids", type=int, default=100_000, help="sent ids (and markers) in the index")
    add("--events", type=int, default=200_000, help="events per throughput measurement")
    add("--match-rounds", type=int, default=7, help="throughput rounds")
    add("--count", type=int, default=10_000, help="listeners per capacity round")
    add("--processes", type=int, default=2, help="listener processes")
    add("--rounds", type=int, default=2, help="capacity rounds of each side")
    add("--baseline", default=BASELINE, help="commit whose code is the baseline")
    add("--current", default=None, help="run this commit as the current side (from a worktree) "
        "instead of this checkout, e.g. HEAD while others edit wasim/")  # fmt: skip
    add("--listener-driver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.listener_driver:
        drive_listeners()
        return
    if args.part in ("all", "throughput"):
        throughput(args.ids, args.events, args.match_rounds)
    if args.part in ("all", "held"):
        held_memory(HELD_LISTENERS, HELD_DEPTHS)
    if args.part in ("all", "capacity"):
        try:
            asyncio.run(
                capacity(args.count, args.processes, args.rounds, args.baseline, args.current)
            )
        except KeyboardInterrupt:
            sys.exit(130)  # every process, worktree and file of the run is gone by now


if __name__ == "__main__":
    main()
