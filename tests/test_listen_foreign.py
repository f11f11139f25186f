"""`wasim listen` against a backend it did not write (tests/foreign_backend.py): exact latency
from the send ledger wherever the id sits, and one hint when the events carry nothing sent."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from foreign_backend import APP_SECRET
from helpers import wait_for
from rich.console import Console

from wasim.listen import Credential, ListenOptions, Summary
from wasim.listen.render import render_summary
from wasim.listen.runner import listen
from wasim.send.job import SendJob, run_job
from wasim.send.sender import Target
from wasim.transports import ListenerConfig

PHONE = "5215512345678"


async def login(url: str, user: str = "ana") -> Credential:
    async with httpx.AsyncClient(base_url=url) as http:
        token = (await http.post("/auth/login", json={"username": user})).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        await http.post("/api/chats", json={"contactPhone": PHONE}, headers=headers)
    return Credential(user, token)


async def listen_while_sending(
    url: str, ledger: Path, kind: str, events: tuple[str, ...] = (), marker: bool = False
) -> tuple[Summary, list[dict[str, Any]]]:
    config = ListenerConfig(base_url=url, stream_path="/api/events", events=events)
    options = ListenOptions(
        kind=kind, config=config, credentials=(await login(url),), ledger=str(ledger)
    )
    records: list[dict[str, Any]] = []
    stop = asyncio.Event()
    running = asyncio.create_task(listen(options, records.append, stop))
    await wait_for(lambda: any(r["type"] == "ready" for r in records))
    target = Target(url=url, app_secret=APP_SECRET, webhook_path="/hooks/whatsapp")
    job = SendJob(target=target, ledger=ledger, from_phone=PHONE, count=3, marker=marker)
    await run_job(job)
    await wait_for(lambda: sum(r["type"] == "event" for r in records) >= 3)
    stop.set()
    return await running, [r for r in records if r["type"] == "event"]


@pytest.mark.parametrize("kind", ["socketio", "sse"])
async def test_listen_foreign_backend_latency_comes_from_the_ledger(
    foreign_url: str, tmp_path: Path, kind: str
) -> None:
    summary, events = await listen_while_sending(foreign_url, tmp_path / "sent.jsonl", kind)
    messages = [e for e in events if e["event"] == "chat:message"]
    assert len(messages) == 3
    assert {e["latency_source"] for e in messages} == {"ledger"}
    assert all(0 < e["latency_ms"] < 5000 and e["matched"] for e in messages)
    assert summary.latency_source == "ledger" and summary.ledger_latency.count == 3


async def test_listen_foreign_backend_events_without_ids_print_one_hint(
    foreign_url: str, tmp_path: Path
) -> None:
    summary, events = await listen_while_sending(
        foreign_url, tmp_path / "sent.jsonl", "socketio", events=("chat:update",)
    )
    console = Console(file=io.StringIO(), width=300)
    render_summary(console, summary)
    hints = [line for line in console.file.getvalue().splitlines() if "--id-path" in line]
    assert {e["latency_source"] for e in events} == {None}
    assert len(hints) == 1 and "chat:update: chatId, lastMessage, unreadCount" in hints[0]


async def test_listen_foreign_backend_text_only_events_match_by_marker(
    foreign_url: str, tmp_path: Path
) -> None:
    summary, events = await listen_while_sending(
        foreign_url, tmp_path / "sent.jsonl", "socketio", events=("chat:update",), marker=True
    )
    assert {e["latency_source"] for e in events} == {"ledger"}
    assert summary.matched_by == {"marker": 3} and summary.hint is None
