"""Storage on SQLite and PostgreSQL: idempotency, routing, status order, event ids."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import samples

from mock_backend import Settings
from wasim import defaults

HOOK = defaults.WEBHOOK_PATH
CONVS = defaults.CONVERSATIONS_PATH
PHONE = "5215512345678"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


async def post(http: httpx.AsyncClient, doc: dict[str, Any]) -> int:
    body, headers = samples.signed(doc)
    return (await http.post(HOOK, content=body, headers=headers)).status_code


async def messages_of(http: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {token}"}
    found: list[dict[str, Any]] = []
    for conv in (await http.get(CONVS, headers=auth)).json()["conversations"]:
        found += (await http.get(f"{CONVS}/{conv['id']}", headers=auth)).json()["messages"]
    return found


async def test_storage_same_message_twice_sequentially_is_one_row(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    doc = samples.envelope([samples.text_message(PHONE)])
    assert [await post(http, doc), await post(http, doc)] == [200, 200]
    assert len(await messages_of(http, token_for("demo"))) == 1


async def test_storage_same_message_concurrently_is_one_row(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    doc = samples.envelope([samples.text_message(PHONE)])
    codes = await asyncio.gather(*(post(http, doc) for _ in range(10)))
    assert codes == [200] * 10
    assert len(await messages_of(http, token_for("demo"))) == 1


async def test_storage_same_message_in_one_batch_is_one_row(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    message = samples.text_message(PHONE)
    assert await post(http, samples.envelope([message, dict(message)])) == 200
    assert len(await messages_of(http, token_for("demo"))) == 1


async def test_storage_many_concurrent_webhooks_all_stored(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    docs = [samples.envelope([samples.text_message(f"52155{i:05d}")]) for i in range(50)]
    assert await asyncio.gather(*(post(http, d) for d in docs)) == [200] * 50
    assert len(await messages_of(http, token_for("demo"))) == 50


async def test_storage_unknown_phone_goes_to_default_owner(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    assert await post(http, samples.envelope([samples.text_message(PHONE)])) == 200
    listed = await http.get(CONVS, headers={"Authorization": f"Bearer {token_for('demo')}"})
    [conv] = listed.json()["conversations"]
    assert (conv["owner"], conv["contact_phone"], conv["unread_count"]) == ("demo", PHONE, 1)


async def test_storage_message_routes_to_every_conversation_of_phone(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    for user in ("alice", "bob"):
        opened = await http.post(
            CONVS,
            json={"contact_phone": "+" + PHONE},
            headers={"Authorization": f"Bearer {token_for(user)}"},
        )
        assert opened.status_code == 201
    assert await post(http, samples.envelope([samples.text_message(PHONE, "to both")])) == 200
    for user in ("alice", "bob"):
        assert [m["text"] for m in await messages_of(http, token_for(user))] == ["to both"]
    assert await messages_of(http, token_for("demo")) == []


@pytest.mark.parametrize(
    ("arrivals", "final"),
    [
        pytest.param(["sent", "delivered", "read"], "read", id="in-order"),
        pytest.param(["read", "delivered", "sent"], "read", id="reversed"),
        pytest.param(["sent", "read", "read"], "read", id="repeated"),
        pytest.param(["delivered", "failed", "read"], "failed", id="failed-sticks"),
        pytest.param(["read", "played"], "played", id="played"),
    ],
)
async def test_storage_status_only_moves_forward(
    http: httpx.AsyncClient, token_for: Any, arrivals: list[str], final: str
) -> None:
    wamid = samples.wamid()
    for state in arrivals:
        assert (
            await post(http, samples.envelope(statuses=[samples.status(wamid, state, PHONE)]))
            == 200
        )
    [stored] = await messages_of(http, token_for("demo"))
    assert (stored["wamid"], stored["direction"], stored["status"]) == (wamid, "outbound", final)
