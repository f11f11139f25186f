"""Bodies built as they are sent (in this process or a builder process), and Ctrl-C mid-run."""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tracemalloc

import pytest
from helpers import Receiver, sign, wait_for

from wasim.payloads import PayloadFactory
from wasim.send import PlanSpec, SendReport, Target, send_plan, send_split
from wasim.send.builder import CHUNK, PIPE_BYTES, Builder
from wasim.send.plan import Recipe, iter_plan
from wasim.send.sender import BUILDER_FROM, Times
from wasim.stats import LatencyHistogram

MIX = {"text": 5, "image": 1, "lifecycle": 1, "echo": 1, "call": 1}


def test_send_stream_plan_is_built_as_it_is_taken() -> None:
    endless = iter_plan(PayloadFactory(seed=1), PlanSpec(mix=MIX, count=10**12, rate=1e5), "s")
    tracemalloc.start()
    try:
        for _ in itertools.islice(endless, 3000):
            pass
        early = tracemalloc.get_traced_memory()[0]
        for _ in itertools.islice(endless, 9000):
            pass
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert late - early < 1_000_000  # 9,000 more POSTs, under a megabyte more


def test_send_stream_keeps_duplicates_and_order_of_schedule() -> None:
    spec = PlanSpec(mix=MIX, count=400, rate=1000, duplicates=0.3, reorder=0.5, batch=2)
    plan = list(iter_plan(PayloadFactory(seed=3), spec, "s"))
    again = list(iter_plan(PayloadFactory(seed=3), spec, "s"))
    assert [d.at for d in plan] == sorted(d.at for d in plan)
    assert [d.body for d in plan] == [d.body for d in again]
    assert sum(d.duplicate for d in plan) > 50 and len({d.body for d in plan}) >= 400


async def test_send_stream_builder_process_sends_every_post(receiver: Receiver) -> None:
    recipe = Recipe(PlanSpec(mix=MIX, count=BUILDER_FROM + 500, rate=20_000), "s3cret", seed=4)
    target = Target(url=receiver.url, app_secret="s3cret")
    report = await send_plan(target, recipe, concurrency=32)
    assert report.sent == report.planned == len(receiver.bodies) >= recipe.posts
    assert sorted(receiver.bodies) == sorted(d.body for d in recipe.deliveries())
    assert receiver.signatures[-1] == sign(receiver.bodies[-1], "s3cret")


async def test_send_stream_builder_read_ahead_stays_bounded() -> None:
    # A consumer far slower than the builder: what is held must not grow with the plan.
    recipe = Recipe(PlanSpec(mix={"text": 1}, count=60 * CHUNK, rate=1e6), "s3cret", seed=6)
    builder = Builder(recipe, b"POST / HTTP/1.1\r\n", read_ahead=128 * 1024)
    try:
        builder.start()
        taken, most = 0, 0
        while not builder.done or builder.held:
            await wait_for(lambda: not builder.reading or builder.done)
            most = max(most, builder.held)
            taken += len(builder.take() or [])
    finally:
        builder.close()
    assert taken == recipe.posts
    # Paused once past read_ahead, after a read of at most PIPE_BYTES; a text POST is > 500 B.
    assert most <= (builder.read_ahead + PIPE_BYTES) // 500


async def test_send_stream_recipe_split_across_processes(receiver: Receiver) -> None:
    recipe = Recipe(PlanSpec(mix={"text": 1}, count=60, rate=600), "s3cret", seed=5)
    target = Target(url=receiver.url, app_secret="s3cret")
    report = await send_split(target, recipe, 2, concurrency=4)
    shares = [d.body for share in recipe.split(2) for d in share.deliveries()]
    assert report.sent == report.planned == 60 and report.codes == {"200": 60}
    assert sorted(receiver.bodies) == sorted(shares)


@pytest.mark.parametrize("processes", [pytest.param(1, id="one"), pytest.param(2, id="two")])
async def test_send_stream_ctrl_c_reports_what_was_sent(receiver: Receiver, processes: int) -> None:
    command = [sys.executable, "-m", "wasim", "send", "--url", receiver.url, "--rate", "200/s",
               "--duration", "60s", "--processes", str(processes), "--json",
               "--no-ledger"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        await wait_for(lambda: len(receiver.bodies) >= 20, timeout=60)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    report = json.loads(out)
    assert proc.returncode == 130, err
    assert report["interrupted"] is True and report["planned"] == 12_000
    assert 20 <= report["sent"] <= len(receiver.bodies) < 12_000
    assert b"interrupted after" in err and b"Traceback" not in err


def test_send_stream_counted_times_make_the_same_histograms() -> None:
    counted, times = SendReport(), Times()
    lags, latencies, slow = LatencyHistogram(), LatencyHistogram(), 0
    rng = random.Random(7)
    for _ in range(20_000):
        lag, latency = rng.expovariate(500), rng.expovariate(20) * (rng.random() < 0.99)
        times.add(lag, latency or -1.0)
        lags.record(lag)
        if latency:
            latencies.record(latency)
            slow += latency > 1.0
    times.flush(counted)
    assert counted.lag.summary() == lags.summary()
    assert counted.latency.summary() == latencies.summary()
    assert counted.slow == slow


def test_send_stream_answers_counted_at_once_make_the_same_report() -> None:
    statuses = [200] * 5 + [401] * 3 + [503]
    one_by_one, at_once = SendReport(), SendReport()
    for status in statuses:
        one_by_one.tally(status, None, 1, False)
    at_once.tally_answered(collections.Counter(statuses))
    assert at_once.as_dict() == one_by_one.as_dict()
    assert at_once.gave_up == 4 and at_once.codes == {"200": 5, "401": 3, "503": 1}
