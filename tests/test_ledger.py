"""The send ledger: `wasim send` notes what it posted, `wasim listen` turns that into latency."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import wait_for
from wasim.cli import app
from wasim.ledger import LedgerFollower, append
from wasim.listen import Credential, ListenOptions
from wasim.listen.processes import listen_spread
from wasim.listen.runner import listen
from wasim.send.job import SendJob, plan_of, run_job
from wasim.send.sender import Target
from wasim.transports import ListenerConfig

runner = CliRunner()


def entries(path: Path) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, path.read_text().splitlines()) if "wamid" in e]


def job_for(url: str, ledger: Path | None, **kw: Any) -> SendJob:
    return SendJob(target=Target(url=url), ledger=ledger, rate="200/s", **kw)


@pytest.mark.parametrize("processes", [pytest.param(1, id="one"), pytest.param(2, id="two")])
async def test_ledger_send_writes_one_line_per_carried_id(
    backend_url: str, tmp_path: Path, processes: int
) -> None:
    ledger = tmp_path / "sent.jsonl"
    job = job_for(backend_url, ledger, mix="text=2,lifecycle=1", count=6, batch=2, seed=3)
    job = SendJob(**{**job.__dict__, "processes": processes})
    plan = plan_of(job)
    before = time.time()
    await run_job(job)
    lines = entries(ledger)
    carried = [(w, None) for d in plan for w in d.wamids] + [s for d in plan for s in d.statuses]
    assert sorted((e["wamid"], e.get("status")) for e in lines) == sorted(carried, key=str)
    # uvloop's timers tick in whole milliseconds: a POST may start a hair before its time.
    assert all(before <= e["scheduled"] < e["started"] + 0.002 for e in lines)
    assert all(e["started"] <= time.time() for e in lines)


def test_ledger_no_ledger_writes_nothing(backend_url: str, tmp_path: Path) -> None:
    ledger = tmp_path / "sent.jsonl"
    args = ["send", "text", "--url", backend_url, "--json"]
    result = runner.invoke(app, [*args, "--ledger", str(ledger), "--no-ledger"])
    assert result.exit_code == 0, result.output
    assert not ledger.exists()
    assert not Path(os.environ["WASIM_LEDGER"]).exists()


def test_ledger_default_is_wasim_ledger_variable(backend_url: str) -> None:
    result = runner.invoke(app, ["send", "text", "--url", backend_url, "--json"])
    assert result.exit_code == 0, result.output
    assert len(entries(Path(os.environ["WASIM_LEDGER"]))) == 1


def options_for(url: str, token_for: Callable[[str], str], ledger: Path) -> ListenOptions:
    return ListenOptions(
        kind="ws",
        config=ListenerConfig(base_url=url),
        credentials=(Credential("demo", token_for("demo")),),
        ledger=str(ledger),
    )


def event_for(records: list[dict[str, Any]], wamid: str) -> dict[str, Any] | None:
    found = [r for r in records if r["type"] == "event" and r["event"] == "new_message"]
    return next((r for r in found if wamid in r["wamids"]), None)


async def test_ledger_listen_reports_exact_latency_for_sent_ids_and_none_for_others(
    backend_url: str, token_for: Callable[[str], str], tmp_path: Path
) -> None:
    ledger, records, stop = tmp_path / "sent.jsonl", [], asyncio.Event()
    running = asyncio.create_task(
        listen(options_for(backend_url, token_for, ledger), records.append, stop)
    )
    await wait_for(lambda: any(r["type"] == "ready" for r in records))
    sent, unsent = "wamid.sent-with-ledger", "wamid.sent-without"
    await run_job(job_for(backend_url, ledger, kind="text", wamid=sent))
    await run_job(job_for(backend_url, None, kind="text", wamid=unsent))
    await wait_for(lambda: event_for(records, sent) and event_for(records, unsent) is not None)
    stop.set()
    summary = await running
    precise, estimated = event_for(records, sent), event_for(records, unsent)
    assert precise and precise["latency_source"] == "ledger"
    assert 0 < precise["latency_ms"] < 5000
    assert estimated and (estimated["latency_source"], estimated["latency_ms"]) == (None, None)
    assert summary.model_dump(mode="json")["latency_source"] == "ledger"


async def test_ledger_listen_children_follow_it_themselves(
    backend_url: str, token_for: Callable[[str], str], tmp_path: Path
) -> None:
    ledger, records, stop = tmp_path / "sent.jsonl", [], asyncio.Event()
    options = options_for(backend_url, token_for, ledger)
    options = ListenOptions(**{**options.__dict__, "per_user": 2})
    running = asyncio.create_task(listen_spread(options, records.append, 2, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records), timeout=30)
    job = job_for(backend_url, ledger, kind="text", seed=13)
    await run_job(job)
    wamid = plan_of(job)[0].wamids[0]
    events = lambda: [r for r in records if r["type"] == "event" and wamid in r["wamids"]]  # noqa: E731
    await wait_for(lambda: len(events()) == 4)  # new_message and conversation_updated, twice
    stop.set()
    summary = await running
    assert {r["latency_source"] for r in events()} == {"ledger"}
    # Each listener holds the message once: its first event gives the latency.
    assert summary.latency_source == "ledger" and summary.ledger_latency.count == 2


def test_ledger_follower_looks_back_a_few_seconds_only(tmp_path: Path) -> None:
    ledger, now = tmp_path / "sent.jsonl", time.time()
    lines = [{"wamid": "old", "scheduled": now - 60, "started": now - 60},
             {"wamid": "recent", "scheduled": now - 1, "started": now - 1}]  # fmt: skip
    append(ledger, "".join(json.dumps(line) + "\n" for line in lines).encode())
    follower = LedgerFollower(ledger)
    follower.start()
    append(ledger, b'{"wamid":"new","status":"read","scheduled":1.5,"started":1.6}\n')
    follower.poll()
    assert (follower.lookup("old"), follower.lookup("recent")) == (None, now - 1)
    assert (follower.lookup("new"), follower.lookup("new", "read")) == (None, 1.5)


def test_ledger_rotates_when_large_and_follower_starts_over(tmp_path: Path) -> None:
    ledger = tmp_path / "sent.jsonl"
    follower = LedgerFollower(ledger)
    follower.start()
    append(ledger, b'{"wamid":"a","scheduled":1,"started":1}\n' * 100, max_bytes=1000)
    append(ledger, b'{"wamid":"b","scheduled":2,"started":2}\n')
    follower.poll()
    assert (tmp_path / "sent.jsonl.1").stat().st_size > 1000
    assert ledger.stat().st_size < 1000 and follower.lookup("b") == 2


WRITER = """
import sys
from pathlib import Path
from wasim.ledger import append
tag = sys.argv[2]
for n in range(200):
    line = '{"wamid":"%s-%d","pad":"%s"}\\n' % (tag, n, "x" * (n * 7))
    append(Path(sys.argv[1]), line.encode() * (1 + n % 50))
"""


async def test_ledger_concurrent_appends_stay_whole_lines(tmp_path: Path) -> None:
    ledger = tmp_path / "sent.jsonl"
    writers = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(ledger), tag)
        for tag in ("a", "b")
    ]
    assert [await w.wait() for w in writers] == [0, 0]
    lines = [json.loads(line) for line in ledger.read_bytes().split(b"\n")[:-1]]
    expected = sum(1 + n % 50 for n in range(200))
    assert sum(e["wamid"].startswith("a-") for e in lines) == expected
    assert sum(e["wamid"].startswith("b-") for e in lines) == expected
