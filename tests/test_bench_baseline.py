"""A baseline recorded against the backend fails the regression check once the backend slows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mock_backend import Settings, create_app
from tests.test_bench_run import tiny
from wasim.cli._app import app
from wasim.server import ServerThread


class SlowWebhooks:
    """The real backend, taking `delay` seconds longer to handle each webhook POST."""

    def __init__(self, app: Any, delay: float) -> None:
        self.app = app
        self.delay = delay

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and "webhook" in scope["path"]:
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


@pytest.fixture
def slow_backend_url(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}")
    with ServerThread(SlowWebhooks(create_app(settings), delay=0.25)) as server:
        yield server.url


def bench(scenario: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bench", str(scenario), "--no-progress", *options])
    return result.exit_code, result.output


def test_bench_baseline_from_a_fast_backend_fails_against_a_slow_one(
    tmp_path: Path, backend_url: str, slow_backend_url: str
) -> None:
    fast, slow, baseline = tmp_path / "fast.toml", tmp_path / "slow.toml", tmp_path / "old.json"
    fast.write_text(tiny(backend_url))
    slow.write_text(tiny(slow_backend_url))
    first, output = bench(fast, "--json-file", str(baseline))
    assert first == 0, output
    second, output = bench(slow, "--baseline", str(baseline), "--max-regression", "20%")
    assert second == 1
    assert "socketio.latency.p50 regressed" in output
