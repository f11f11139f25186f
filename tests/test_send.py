"""The sender against a recording receiver: bytes, HMAC, retries, duplicates, batches, replay."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from helpers import Receiver, sign
from typer.testing import CliRunner

from wasim.cli import app
from wasim.payloads import MESSAGE_KINDS, STATUS_KINDS, PayloadFactory
from wasim.send import (
    PlanSpec,
    SendResult,
    Target,
    build_plan,
    load,
    prepare,
    record,
    retry_profile,
    send_plan,
)

SECRET = "test-secret"


def target(receiver: Receiver, timeout: float = 5.0) -> Target:
    return Target(url=receiver.url, app_secret=SECRET, webhook_path="/hook", timeout=timeout)


async def test_send_every_kind_signed_over_received_bytes(receiver: Receiver) -> None:
    factory = PayloadFactory(seed=11)
    updates = [factory.message(k) for k in MESSAGE_KINDS] + [
        factory.status(s) for s in STATUS_KINDS
    ]
    plan = [prepare(factory.envelope(u), SECRET) for u in updates]
    report = await send_plan(target(receiver), plan)
    assert report.answers == {"2xx": len(plan)}
    assert sorted(receiver.bodies) == sorted(d.body for d in plan)
    for body, header in zip(receiver.bodies, receiver.signatures, strict=True):
        assert header == sign(body, SECRET)


async def test_send_retries_follow_profile_and_stop_at_first_200(receiver: Receiver) -> None:
    receiver.fail_first = 3
    profile = retry_profile("fast", time_scale=1000)
    results: list[SendResult] = []
    plan = [
        prepare(PayloadFactory(seed=1).envelope(PayloadFactory(seed=1).message("text")), SECRET)
    ]
    report = await send_plan(target(receiver), plan, retry=profile, on_result=results.append)
    assert results[0].attempts == 4 and results[0].status_code == 200
    assert report.retries == 3 and len(receiver.bodies) == 4
    assert len(set(receiver.bodies)) == 1
    assert profile.delays[:3] == (0.001, 0.002, 0.004) and profile.max_attempts == 8


async def test_send_gives_up_after_last_attempt(receiver: Receiver) -> None:
    receiver.fail_first = 100
    plan = [prepare({"object": "whatsapp_business_account", "entry": []}, SECRET)]
    report = await send_plan(target(receiver), plan, retry=retry_profile("meta", 10**9))
    assert report.gave_up == 1 and len(receiver.bodies) == retry_profile("meta").max_attempts


def test_send_meta_profile_spans_seven_days() -> None:
    delays = retry_profile("meta").delays
    assert 6 * 86400 < sum(delays) <= 7 * 86400
    assert list(delays) == sorted(delays)


async def test_send_duplicates_and_batches_reach_receiver(receiver: Receiver) -> None:
    spec = PlanSpec(mix={"text": 1, "lifecycle": 1}, count=20, rate=2000, batch=3, duplicates=0.5)
    plan = build_plan(PayloadFactory(seed=4), spec, SECRET)
    report = await send_plan(target(receiver), plan)
    changes = [len(json.loads(d.body)["entry"][0]["changes"]) for d in plan if not d.duplicate]
    assert report.duplicates > 0 and report.sent == len(plan)
    # 20 POSTs of 3, plus at most one more to finish a lifecycle drawn last.
    assert changes[:20] == [3] * 20 and len(changes) <= 21
    assert len(receiver.bodies) - len(set(receiver.bodies)) == report.duplicates


async def test_send_replay_sends_identical_bytes(receiver: Receiver, tmp_path: Path) -> None:
    spec = PlanSpec(mix={"text": 1, "image": 1}, count=5, rate=1000)
    plan = build_plan(PayloadFactory(seed=8, locale="es_MX"), spec, SECRET)
    record(plan, tmp_path / "run.jsonl")
    await send_plan(target(receiver), load(tmp_path / "run.jsonl", rate=1000))
    # Sends start on schedule without waiting for answers, so arrival order is not guaranteed.
    received = sorted(zip(receiver.bodies, receiver.signatures, strict=True))
    assert received == sorted((d.body, d.headers["X-Hub-Signature-256"]) for d in plan)


async def test_send_timeout_is_counted() -> None:
    plan = [prepare({"object": "whatsapp_business_account", "entry": []}, SECRET)]
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        report = await send_plan(Target(url=f"http://127.0.0.1:{port}", timeout=0.2), plan)
    assert report.timeouts == 1 and not report.answers


def test_send_command_replays_recorded_bytes(receiver: Receiver, tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["--url", receiver.url, "--path", "/hook", "--app-secret", SECRET]
    out = tmp_path / "out.jsonl"
    first = runner.invoke(
        app, ["send", "text", "--count", "3", "--seed", "1", "--record", str(out), *common]
    )
    again = runner.invoke(app, ["send", "--replay", str(out), "--json", *common])
    assert first.exit_code == 0 and again.exit_code == 0, again.output
    assert sorted(receiver.bodies[:3]) == sorted(receiver.bodies[3:])
    assert json.loads(again.stdout)["answers"] == {"2xx": 3}


def test_send_command_same_seed_prints_same_bytes() -> None:
    runner = CliRunner()
    args = ["send", "text", "--body", "olá 👋 https://x.y/z", "--seed", "3", "--print", "--json"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    body = json.loads(first.stdout)["body"]
    assert first.exit_code == 0 and first.stdout == second.stdout
    assert "ol\\u00e1 \\ud83d\\udc4b https:\\/\\/x.y\\/z" in body


def test_send_command_unreachable_is_one_red_line() -> None:
    result = CliRunner().invoke(app, ["send", "text", "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 3
    assert "cannot reach" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--rate", "fast"], id="rate"),
        pytest.param(["--mix", "text=a"], id="mix"),
        pytest.param(["--retry", "sometimes"], id="retry"),
        pytest.param(["--set", "novalue"], id="set"),
        pytest.param(["--style", "yaml"], id="style"),
        pytest.param(["--shape", "2019"], id="shape"),
    ],
)
def test_send_command_bad_option_is_config_error(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["send", "text", "--print", *args])
    assert result.exit_code == 2 and "error:" in result.stderr
    assert "Traceback" not in result.output


def test_send_lifecycle_sends_every_status_of_one_message() -> None:
    plan = build_plan(PayloadFactory(seed=3), PlanSpec(mix={"lifecycle": 1}, count=1), SECRET)
    statuses = [status for delivery in plan for status in delivery.statuses]
    assert len({wamid for wamid, _ in statuses}) == 1
    assert [s for _, s in statuses] in (["sent", "delivered", "read"], ["sent", "read"])
