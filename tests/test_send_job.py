"""`wasim send` hands every option to SendJob by name (`from_named`): none may be dropped."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wasim.cli import app
from wasim.cli import send as cli_send
from wasim.errors import ConfigError
from wasim.send.job import SendJob

# A value other than the default for every option of `wasim send`.
EVERY_OPTION = [
    "send", "image", "read", "--body", "b", "--from", "15550001", "--name", "Ana",
    "--id", "wamid.1", "--set", "a=1", "--mix", "text=1", "--phones", "1,2", "--reply",
    "--referral", "--rate", "5/s", "--count", "2", "--duration", "1s", "--batch", "2",
    "--duplicates", "0.1", "--reorder", "0.1", "--concurrency", "3", "--processes", "2",
    "--retry", "fast", "--time-scale", "2", "--timeout", "3", "--seed", "1", "--marker",
    "--shape", "pre2026", "--failed-contacts", "--locale", "es_MX", "--style", "plain",
    "--tamper", "--print", "--record", "r.jsonl", "--replay", "p.jsonl", "--ledger", "l.jsonl",
    "--url", "http://h:1", "--expect", "4xx",
]  # fmt: skip


def test_send_job_gets_every_option(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jobs: list[SendJob] = []

    async def capture(job: SendJob, **_: Any) -> None:
        jobs.append(job)
        raise ConfigError("captured")

    monkeypatch.setattr(cli_send, "run_job", capture)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, EVERY_OPTION)
    assert "captured" in result.output and len(jobs) == 1
    default = SendJob()
    unchanged = [
        f.name for f in fields(SendJob) if getattr(jobs[0], f.name) == getattr(default, f.name)
    ]
    assert unchanged == []
