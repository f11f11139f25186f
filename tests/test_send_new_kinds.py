"""The 2025-2026 webhooks into `wasim serve`: each taken (200), stored or acknowledged, pushed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import httpx
from helpers import Receiver, sign, wait_for

from mock_backend import Settings, create_app
from wasim.payloads import KINDS, PayloadFactory, Update
from wasim.send import Target, prepare, send_plan
from wasim.server import ServerThread
from wasim.tokens import mint_token
from wasim.transports import make_listener
from wasim.transports.base import Received
from wasim.transports.config import ListenerConfig

PHONE = "5215512345678"
ACKNOWLEDGED = ["history", "group_lifecycle_update", "group_participants_update",
                "group_settings_update", "group_status_update", "account_update",
                "business_capability_update", "app_state_sync"]  # fmt: skip


async def post(server: ServerThread, settings: Settings, updates: list[Update]) -> None:
    factory_of = PayloadFactory(seed=0)  # only for the envelope's ids
    plan = [prepare(factory_of.envelope(u), settings.app_secret) for u in updates]
    report = await send_plan(Target(url=server.url), plan, concurrency=1)
    assert report.codes == {"200": len(plan)}, report.codes


async def get(server: ServerThread, token: str, path: str) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        return response.json() if response.status_code == 200 else response.status_code


async def test_new_kinds_echoes_and_calls_are_stored_and_pushed(
    server: ServerThread, settings: Settings, token_for: Callable[[str], str]
) -> None:
    factory = PayloadFactory(seed=41)
    kinds = ("echo", "echo_edit", "echo_revoke")
    echoes = [u for kind in kinds for u in factory.updates(kind, PHONE)]
    calls = factory.updates("call", PHONE) + factory.updates("call_status", PHONE)
    token = token_for(settings.default_owner)
    config = ListenerConfig(base_url=server.url, token=token, user=settings.default_owner)
    pushed: dict[str, list[dict[str, Any]]] = {}
    async with make_listener("socketio", config) as listener:

        async def drain() -> None:
            async for item in listener.items():
                if isinstance(item, Received):
                    pushed.setdefault(item.event, []).append(item.data)

        reader = asyncio.create_task(drain())
        await post(server, settings, echoes + calls + calls[:1])  # a call event sent twice
        echo_ids = {u.item["id"] for u in echoes}
        call_events = {(u.item["id"], u.item.get("event") or u.item["status"]) for u in calls}

        def arrived() -> bool:
            new = {m["message"]["wamid"] for m in pushed.get("new_message", [])}
            rang = {(c["call_id"], c["event"]) for c in pushed.get("call", [])}
            return echo_ids <= new and call_events <= rang

        await wait_for(arrived)
        reader.cancel()
    assert len(pushed["call"]) == len(call_events)  # the repeated one was not pushed again
    chat = (await get(server, token, settings.conversations_path))["conversations"][0]
    stored = await get(server, token, f"{settings.conversations_path}/{chat['id']}")
    outbound = {m["wamid"]: m for m in stored["messages"] if m["direction"] == "outbound"}
    assert echo_ids <= set(outbound) and chat["unread_count"] == 0
    assert outbound[echoes[1].item["id"]]["text"].startswith("[edited] ")
    assert outbound[echoes[2].item["id"]]["text"] == "[deleted a message]"


async def test_new_kinds_contact_marks_and_identity_changes(
    server: ServerThread, settings: Settings, token_for: Callable[[str], str]
) -> None:
    factory = PayloadFactory(seed=42)
    token = token_for(settings.default_owner)
    contact = f"{settings.contacts_path}/{PHONE}"
    await post(server, settings, [factory.message("text", from_phone=PHONE)])
    first = await get(server, token, contact)
    await post(server, settings, factory.updates("user_preferences", PHONE))
    stopped = await get(server, token, contact)
    await post(server, settings, factory.updates("user_changed_user_id", PHONE))
    moved = await get(server, token, contact)
    await post(server, settings, factory.updates("user_id_update", PHONE))
    updated = await get(server, token, contact)
    latest = factory.contact(PHONE).user_id
    changed = factory.updates("system", PHONE)
    await post(server, settings, changed)
    renumbered = await get(server, token, contact)
    assert first["user_id"] and first["marketing"] is None
    assert stopped["marketing"] == "stop"
    assert moved["user_id"] != first["user_id"]
    assert updated["user_id"] == latest != moved["user_id"]
    assert renumbered["changed_to"] == changed[0].item["system"]["wa_id"]
    assert await get(server, token, f"{settings.contacts_path}/19999999999") == 404


async def test_new_kinds_the_rest_is_acknowledged_and_counted(
    server: ServerThread, settings: Settings
) -> None:
    factory = PayloadFactory(seed=43)
    updates = [u for kind in ACKNOWLEDGED for u in factory.updates(kind, PHONE)]
    await post(server, settings, updates)
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        metrics = (await http.get("/metrics")).text
    for kind in ACKNOWLEDGED:
        field = KINDS[kind].field
        found = re.search(rf'wasim_webhook_updates_total{{field="{field}"}} (\d+)', metrics)
        assert found and int(found[1]) >= 1, field
    assert 'wasim_webhooks_total{outcome="acknowledged"}' in metrics


async def test_new_kinds_signed_over_the_bytes_received(receiver: Receiver) -> None:
    factory = PayloadFactory(seed=44)
    updates = [u for kind in KINDS for u in factory.updates(kind)]
    plan = [prepare(factory.envelope(u), "s3cret") for u in updates]
    target = Target(url=receiver.url, app_secret="s3cret")
    report = await send_plan(target, plan)
    assert report.codes == {"200": len(plan)}
    assert sorted(receiver.bodies) == sorted(d.body for d in plan)
    assert all(
        s == sign(b, "s3cret") for b, s in zip(receiver.bodies, receiver.signatures, strict=True)
    )


async def test_new_kinds_store_on_both_databases(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    factory = PayloadFactory(seed=45)
    updates = [factory.message("text", from_phone=PHONE), *factory.updates("echo", PHONE)]
    updates += factory.updates("call", PHONE) + factory.updates("user_preferences", PHONE)
    updates += factory.updates("user_changed_user_id", PHONE)
    token = mint_token(settings.default_owner, secret=settings.jwt_secret, expires_in=600)
    with ServerThread(create_app(settings)) as server:
        await post(server, settings, updates + updates)  # each twice: stored once
        contact = await get(server, token, f"{settings.contacts_path}/{PHONE}")
        chat = (await get(server, token, settings.conversations_path))["conversations"][0]
        stored = await get(server, token, f"{settings.conversations_path}/{chat['id']}")
    assert contact["marketing"] == "stop" and contact["user_id"] == factory.contact(PHONE).user_id
    assert [m["direction"] for m in stored["messages"]] == ["inbound", "outbound"]
