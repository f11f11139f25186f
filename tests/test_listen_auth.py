"""`wasim listen` credentials from a tokens file or minted per user, and polling's 304s."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import wait_for

from mock_backend import Settings, create_app
from tests.test_transports import Collector, open_chat, post_message
from wasim.server import ServerThread
from wasim.tokens import mint_token
from wasim.transports import make_listener
from wasim.transports.config import ListenerConfig, PollConfig


@pytest.fixture
def sub_claim_backend(sqlite_url: str) -> Iterator[ServerThread]:
    """The bundled backend expecting the user id in `sub` instead of `userId`."""
    with ServerThread(create_app(Settings(database_url=sqlite_url, jwt_claim="sub"))) as server:
        yield server


async def listen_cli(*args: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    command = [sys.executable, "-m", "wasim", "listen", "--json", *args]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    return child, json.loads(await asyncio.wait_for(child.stdout.readline(), 30))


async def finish(child: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    child.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(child.communicate(), 30)
    return [json.loads(line) for line in out.splitlines()]


async def test_listen_tokens_file_listens_as_each_user(
    backend_url: str, token_for: Callable[[str], str], tmp_path: Path
) -> None:
    await open_chat(backend_url, token_for("ana"), "5215500000002")
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"# user token\ndemo {token_for('demo')}\nana,{token_for('ana')}\n")
    child, ready = await listen_cli("--url", backend_url, "--tokens-file", str(tokens))
    assert (ready["requested"], ready["connected"]) == (2, 2)
    for_demo = await post_message(backend_url, "5215500000001")
    for_ana = await post_message(backend_url, "5215500000002")
    records = await finish(child)
    users = {w: r["user"] for r in records if r["type"] == "event" for w in r["wamids"]}
    assert (users[for_demo], users[for_ana]) == ("demo", "ana")


async def test_listen_minted_tokens_follow_the_backends_claim(
    sub_claim_backend: ServerThread,
) -> None:
    url = sub_claim_backend.url
    child, ready = await listen_cli("--url", url, "--users", "3", "--jwt-claim", "sub")
    assert (ready["requested"], ready["connected"]) == (3, 3)
    await finish(child)


async def test_listen_minted_tokens_with_the_wrong_claim_are_refused(
    sub_claim_backend: ServerThread,
) -> None:
    command = [sys.executable, "-m", "wasim", "listen", "--url", sub_claim_backend.url]
    child = await asyncio.create_subprocess_exec(
        *command, "--users", "2", "--duration", "5s", stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(child.communicate(), 30)
    assert child.returncode != 0
    assert err.decode().startswith("error:") and len(err.decode().strip().splitlines()) == 1


async def test_poll_with_etag_counts_not_modified(backend_url: str) -> None:
    config = ListenerConfig(
        base_url=backend_url,
        token=mint_token("demo"),
        poll=PollConfig(list_interval=0.02, list_pollers=1, detail_interval=None, etag=True),
    )
    listener = make_listener("poll", config)
    await listener.connect()
    collector = Collector(listener)
    wamid = await post_message(backend_url, "5215500000001")
    await wait_for(collector.has(wamid))
    await wait_for(lambda: listener.stats.not_modified >= 3)
    await collector.close()
    assert listener.stats.requests > listener.stats.not_modified >= 3
