"""The foreign backend keeps its own contract: claim `sub`, `chat:*` events, an array of chats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import socketio
from foreign_backend import APP_SECRET, JWT_SECRET
from helpers import sign, wait_for
from httpx_sse import aconnect_sse

PHONE = "5215512345678"


def webhook(wamid: str, text: str) -> bytes:
    message = {"from": PHONE, "id": wamid, "timestamp": "1700000000", "type": "text"}
    value = {"messaging_product": "whatsapp", "messages": [{**message, "text": {"body": text}}]}
    change = {"value": value, "field": "messages"}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"changes": [change]}]}
    ).encode()


async def deliver(http: httpx.AsyncClient, body: bytes, secret: str = APP_SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret)}
    return await http.post("/hooks/whatsapp", content=body, headers=headers)


@pytest.fixture
async def ana(foreign_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as `ana`, who has a chat with PHONE."""
    async with httpx.AsyncClient(base_url=foreign_url, timeout=10) as client:
        login = await client.post("/auth/login", json={"username": "ana"})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        assert (await client.post("/api/chats", json={"contactPhone": PHONE})).status_code == 201
        yield client


def token_of(client: httpx.AsyncClient) -> str:
    return client.headers["Authorization"].removeprefix("Bearer ")


async def socket_for(http: httpx.AsyncClient, got: list[dict[str, Any]]) -> socketio.AsyncClient:
    client = socketio.AsyncClient()
    client.on("chat:message", got.append)
    await client.connect(
        str(http.base_url), auth={"token": token_of(http)}, transports=["websocket"]
    )
    return client


async def test_foreign_backend_login_gives_a_token_with_claim_sub(foreign_url: str) -> None:
    async with httpx.AsyncClient(base_url=foreign_url) as client:
        answer = await client.post("/auth/login", json={"username": "ana"})
        missing = await client.post("/auth/login", json={})
    assert answer.json()["token_type"] == "bearer"
    claims = jwt.decode(answer.json()["access_token"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "ana" and "userId" not in claims
    assert missing.status_code == 422


async def test_foreign_backend_pushes_chat_message_over_socketio(ana: httpx.AsyncClient) -> None:
    got: list[dict[str, Any]] = []
    client = await socket_for(ana, got)
    try:
        assert (await deliver(ana, webhook("wamid.SIO1", "hola"))).json() == {"ok": True}
        await wait_for(lambda: bool(got))
    finally:
        await client.disconnect()
    assert got[0]["chatId"] == "chat_1"
    assert got[0]["data"]["msg"]["whatsapp_id"] == "wamid.SIO1"
    assert got[0]["data"]["msg"]["text"] == "hola"


async def test_foreign_backend_pushes_chat_message_over_sse(ana: httpx.AsyncClient) -> None:
    params = {"access_token": token_of(ana)}
    async with (
        httpx.AsyncClient(base_url=ana.base_url, timeout=10) as bare,
        aconnect_sse(bare, "GET", "/api/events", params=params) as source,
    ):
        await deliver(ana, webhook("wamid.SSE1", "hola"))
        async with asyncio.timeout(10):
            sse = await anext(source.aiter_sse())
    assert sse.event == "chat:message" and sse.id == ""
    assert json.loads(sse.data)["data"]["msg"]["whatsapp_id"] == "wamid.SSE1"


async def test_foreign_backend_lists_chats_as_an_array_without_etag(
    ana: httpx.AsyncClient,
) -> None:
    await deliver(ana, webhook("wamid.LIST1", "hola"))
    answer = await ana.get("/api/chats")
    assert "etag" not in answer.headers
    assert isinstance(answer.json(), list)
    assert answer.json()[0]["lastMessage"] == "hola"
    assert answer.json()[0]["unreadCount"] == 1


async def test_foreign_backend_refuses_a_bad_signature(ana: httpx.AsyncClient) -> None:
    answer = await deliver(ana, webhook("wamid.BAD1", "hola"), secret="not-the-secret")
    assert answer.status_code == 401
    assert answer.json() == {"error": "bad signature"}


async def test_foreign_backend_emits_a_duplicate_message_once(ana: httpx.AsyncClient) -> None:
    got: list[dict[str, Any]] = []
    client = await socket_for(ana, got)
    try:
        for wamid in ("wamid.DUP1", "wamid.DUP1", "wamid.DUP2"):
            assert (await deliver(ana, webhook(wamid, "hola"))).status_code == 200
        # Events arrive in order: a second DUP1 would come before DUP2's.
        await wait_for(lambda: len(got) >= 2)
    finally:
        await client.disconnect()
    assert [event["data"]["msg"]["whatsapp_id"] for event in got] == ["wamid.DUP1", "wamid.DUP2"]
