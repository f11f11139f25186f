"""`wasim send` into the bundled backend: every type and status accepted, stored and pushed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from typer.testing import CliRunner

from mock_backend import Settings
from wasim.cli import app
from wasim.payloads import MESSAGE_KINDS, STATUS_KINDS, PayloadFactory
from wasim.send import PlanSpec, Target, build_plan, prepare, send_plan
from wasim.server import ServerThread

PHONE = "5215512345678"


async def stored_messages(http: httpx.AsyncClient, token: str) -> dict[str, dict[str, Any]]:
    auth = {"Authorization": f"Bearer {token}"}
    listing = (await http.get("/api/whatsapp/conversations", headers=auth)).json()
    found: dict[str, dict[str, Any]] = {}
    for conversation in listing["conversations"]:
        url = f"/api/whatsapp/conversations/{conversation['id']}?limit=500"
        for message in (await http.get(url, headers=auth)).json()["messages"]:
            found[message["wamid"]] = message
    return found


async def test_send_backend_accepts_and_stores_every_kind(
    server: ServerThread, settings: Settings, http: httpx.AsyncClient,
    token_for: Callable[[str], str],
) -> None:  # fmt: skip
    factory = PayloadFactory(seed=21)
    kinds = [k for k in MESSAGE_KINDS if k != "system"]
    messages = [factory.message(k, from_phone=PHONE) for k in kinds]
    plan = [prepare(factory.envelope(m), settings.app_secret) for m in messages]
    report = await send_plan(Target(url=server.url), plan)
    stored = await stored_messages(http, token_for(settings.default_owner))
    assert report.answers == {"2xx": len(plan)}
    assert {m.wamid for m in messages if m.item["type"] != "reaction"} <= set(stored)


async def test_send_backend_stores_every_status_and_lifecycle(
    server: ServerThread, settings: Settings, http: httpx.AsyncClient,
    token_for: Callable[[str], str],
) -> None:  # fmt: skip
    factory = PayloadFactory(seed=22)
    updates = [factory.status(s, recipient=PHONE) for s in STATUS_KINDS]
    lifecycle = factory.lifecycle(recipient=PHONE, skip_delivered=False)
    plan = [prepare(factory.envelope(u), settings.app_secret) for u in updates + lifecycle]
    report = await send_plan(Target(url=server.url), plan, concurrency=1)
    stored = await stored_messages(http, token_for(settings.default_owner))
    assert report.answers == {"2xx": len(plan)}
    assert {u.wamid: u.status for u in updates} == {
        u.wamid: stored[u.wamid or ""]["status"] for u in updates
    }
    assert stored[lifecycle[0].wamid or ""]["status"] == "read"


async def test_send_backend_emoji_text_in_meta_bytes_verifies(
    server: ServerThread, settings: Settings, http: httpx.AsyncClient,
    token_for: Callable[[str], str],
) -> None:  # fmt: skip
    factory = PayloadFactory(seed=1)
    message = factory.message("text", from_phone=PHONE, **{"text.body": "¡Hola, café! 👍 a/b"})
    delivery = prepare(factory.envelope(message), settings.app_secret)
    report = await send_plan(Target(url=server.url), [delivery])
    stored = await stored_messages(http, token_for(settings.default_owner))
    assert b"\\ud83d\\udc4d" in delivery.body and report.answers == {"2xx": 1}
    assert stored[message.wamid or ""]["text"] == "¡Hola, café! 👍 a/b"


async def test_send_backend_duplicates_and_batches_stay_idempotent(
    server: ServerThread, settings: Settings, http: httpx.AsyncClient,
    token_for: Callable[[str], str],
) -> None:  # fmt: skip
    spec = PlanSpec(mix={"text": 1}, count=10, rate=500, batch=3, duplicates=0.6, phones=[PHONE])
    plan = build_plan(PayloadFactory(seed=5), spec, settings.app_secret)
    report = await send_plan(Target(url=server.url), plan)
    stored = await stored_messages(http, token_for(settings.default_owner))
    assert report.duplicates > 0 and report.answers == {"2xx": len(plan)}
    assert len(stored) == 30 and {w for d in plan for w in d.wamids} == set(stored)


async def test_send_backend_pushes_to_sse(
    server: ServerThread, settings: Settings, token_for: Callable[[str], str]
) -> None:
    from httpx_sse import aconnect_sse

    factory = PayloadFactory(seed=6)
    message = factory.message("image", from_phone=PHONE)
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        params = {"token": token_for(settings.default_owner)}
        async with aconnect_sse(client, "GET", "/api/whatsapp/stream", params=params) as source:
            await send_plan(
                Target(url=server.url), [prepare(factory.envelope(message), settings.app_secret)]
            )
            async for event in source.aiter_sse():
                seen.append(event.data)
                if message.wamid in event.data:
                    break
    assert any(message.wamid in data for data in seen)


def test_send_command_without_secret_flags_reaches_backend(server: ServerThread) -> None:
    result = CliRunner().invoke(
        app, ["send", "--mix", "text=70,image=10,status=20", "--count", "5", "--rate", "500/s",
              "--url", server.url, "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert '"2xx": 5' in result.stdout
