"""`wasim listen`: the library run, NDJSON from the real CLI, and one-line refusals."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import wait_for
from tests.test_transports import post_message
from wasim.cli import app
from wasim.listen import Credential, ListenOptions
from wasim.listen.processes import listen_spread
from wasim.listen.runner import listen
from wasim.transports import ListenerConfig

runner = CliRunner()


def options_for(
    url: str, token_for: Callable[[str], str], users: list[str], **kw: Any
) -> ListenOptions:
    who = tuple(Credential(u, token_for(u)) for u in users)
    return ListenOptions(config=ListenerConfig(base_url=url), credentials=who, **kw)


async def test_listen_counts_events_per_transport(
    backend_url: str, token_for: Callable[[str], str]
) -> None:
    records: list[dict[str, Any]] = []
    stop = asyncio.Event()
    options = options_for(backend_url, token_for, ["demo"], kind="ws", per_user=2)
    running = asyncio.create_task(listen(options, records.append, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records))
    wamid = await post_message(backend_url, "5215500000001")
    await wait_for(lambda: sum(wamid in r.get("wamids", ()) for r in records) >= 4)
    stop.set()
    summary = await running
    assert summary.connected == 2
    assert summary.events["ws/new_message"] == 2
    assert summary.duplicates == summary.missed == 0


async def test_listen_spreads_over_processes_and_merges(
    backend_url: str, token_for: Callable[[str], str]
) -> None:
    records: list[dict[str, Any]] = []
    stop = asyncio.Event()
    options = options_for(backend_url, token_for, ["demo", "ana", "bea"], kind="socketio-lean")
    running = asyncio.create_task(listen_spread(options, records.append, 2, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records), timeout=30)
    wamid = await post_message(backend_url, "5215500000001")
    await wait_for(lambda: any(wamid in r.get("wamids", ()) for r in records))
    stop.set()
    summary = await running
    assert (summary.requested, summary.connected) == (3, 3)
    assert summary.events["socketio/new_message"] == 1


async def test_listen_cli_json_lines_parse(backend_url: str) -> None:
    command = [sys.executable, "-m", "wasim", "listen", "--url", backend_url, "--json"]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    ready = json.loads(await asyncio.wait_for(child.stdout.readline(), 20))
    assert (ready["type"], ready["connected"]) == ("ready", 1)
    wamid = await post_message(backend_url, "5215500000001")
    event = json.loads(await asyncio.wait_for(child.stdout.readline(), 10))
    assert (event["type"], event["wamids"]) == ("event", [wamid])
    child.send_signal(signal.SIGINT)
    rest = [json.loads(line) for line in (await child.communicate())[0].splitlines()]
    assert rest[-1]["type"] == "summary"
    assert rest[-1]["events"]["socketio/new_message"] == 1
    assert child.returncode == 130  # Ctrl-C: the summary, then the shell's code for it


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        pytest.param(["--token", "bad"], 1, id="bad-token"),
        pytest.param(["--url", "http://127.0.0.1:9"], 3, id="unreachable"),
        pytest.param(["--socketio-path", "/nope"], 3, id="wrong-path"),
        pytest.param(["--transport", "carrier-pigeon"], 2, id="bad-transport"),
        pytest.param(["--duration", "soon"], 2, id="bad-duration"),
    ],
)
def test_listen_cli_refusal_is_one_line(backend_url: str, extra: list[str], code: int) -> None:
    result = runner.invoke(app, ["listen", "--url", backend_url, "--duration", "5s", *extra])
    assert result.exit_code == code
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
