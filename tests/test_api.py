"""`import wasim` gives what a Python user needs to send, listen, bench, probe and serve."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from helpers import wait_for

import wasim
from wasim.server import ServerThread


@pytest.mark.parametrize("name", wasim.__all__)
def test_api_every_public_name_resolves(name: str) -> None:
    assert getattr(wasim, name) is not None


def test_api_import_is_cheap_for_child_processes() -> None:
    code = "import sys, wasim; print('fastapi' in sys.modules, 'socketio' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert output.stdout.split() == ["False", "False"]


async def test_api_send_to_the_bundled_backend_and_listen_with_exact_latency(tmp_path: Any) -> None:
    app = wasim.create_app(wasim.Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/w.db"))
    with ServerThread(app) as server:
        token = wasim.Credential("demo", _token("demo"))
        config = wasim.ListenerConfig(base_url=server.url)
        records: list[dict[str, Any]] = []
        stop = asyncio.Event()
        running = asyncio.create_task(
            wasim.run_listen(
                wasim.ListenOptions(config=config, credentials=(token,)), records.append, stop
            )
        )
        await wait_for(lambda: any(r["type"] == "ready" for r in records))
        factory = wasim.PayloadFactory(seed=3)
        plan = wasim.build_plan(factory, wasim.PlanSpec(count=2, rate=50), "wasim-dev-app-secret")
        report = await wasim.send_plan(wasim.Target(url=server.url), plan)
        sent = {w for d in plan for w in d.wamids}
        await wait_for(
            lambda: sent <= {w for r in records if r["type"] == "event" for w in r["wamids"]}
        )
        stop.set()
        summary = await running
    assert report.sent == 2 and summary.connected == 1


def _token(user: str) -> str:
    from wasim.tokens import mint_token

    return mint_token(user, secret="wasim-dev-jwt-secret-not-for-production")


def test_api_all_lists_exactly_the_lazy_exports() -> None:
    lazy = set(wasim._EXPORTS) | set(wasim._RENAMED)
    assert set(wasim.__all__) == lazy | {"__version__"}
