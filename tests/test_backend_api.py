"""Polling API: ETag/304, owner-only, open and read; metrics and health."""

from __future__ import annotations

from typing import Any

import httpx
import samples

from wasim import defaults

CONVS = defaults.CONVERSATIONS_PATH
PHONE = "5215512345678"


async def post(http: httpx.AsyncClient, doc: dict[str, Any]) -> None:
    body, headers = samples.signed(doc)
    assert (await http.post(defaults.WEBHOOK_PATH, content=body, headers=headers)).is_success


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_list_etag_gives_304_until_new_message(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    await post(http, samples.envelope([samples.text_message(PHONE)]))
    first = await http.get(CONVS, headers=auth(token_for("demo")))
    etag = first.headers["etag"]
    again = await http.get(CONVS, headers={**auth(token_for("demo")), "If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    await post(http, samples.envelope([samples.text_message(PHONE, "newer")]))
    changed = await http.get(CONVS, headers={**auth(token_for("demo")), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["conversations"][0]["last_message"]["text"] == "newer"


async def test_api_conversation_etag_gives_304(http: httpx.AsyncClient, token_for: Any) -> None:
    await post(http, samples.envelope([samples.text_message(PHONE)]))
    url = f"{CONVS}/1"
    etag = (await http.get(url, headers=auth(token_for("demo")))).headers["etag"]
    again = await http.get(url, headers={**auth(token_for("demo")), "If-None-Match": etag})
    assert again.status_code == 304


async def test_api_other_users_conversation_is_404(http: httpx.AsyncClient, token_for: Any) -> None:
    await post(http, samples.envelope([samples.text_message(PHONE)]))
    assert (await http.get(f"{CONVS}/1", headers=auth(token_for("demo")))).status_code == 200
    assert (await http.get(f"{CONVS}/1", headers=auth(token_for("eve")))).status_code == 404
    read = await http.post(f"{CONVS}/1/read", headers=auth(token_for("eve")))
    assert read.status_code == 404
    assert (await http.get(CONVS, headers=auth(token_for("eve")))).json() == {"conversations": []}


async def test_api_without_token_is_401(http: httpx.AsyncClient) -> None:
    assert (await http.get(CONVS)).status_code == 401
    assert (await http.get(CONVS, headers=auth("not-a-jwt"))).status_code == 401


async def test_api_open_conversation_201_then_200(http: httpx.AsyncClient, token_for: Any) -> None:
    body = {"contact_phone": PHONE, "contact_name": "Ana"}
    first = await http.post(CONVS, json=body, headers=auth(token_for("demo")))
    second = await http.post(CONVS, json=body, headers=auth(token_for("demo")))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["contact_name"] == "Ana"


async def test_api_open_conversation_bad_phone_is_422(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    answer = await http.post(CONVS, json={"contact_phone": "x y"}, headers=auth(token_for("u")))
    assert answer.status_code == 422


async def test_api_messages_limit_keeps_newest_oldest_first(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    for text in "abc":
        await post(http, samples.envelope([samples.text_message(PHONE, text)]))
    answer = await http.get(f"{CONVS}/1", params={"limit": 2}, headers=auth(token_for("demo")))
    assert [m["text"] for m in answer.json()["messages"]] == ["b", "c"]
    assert answer.json()["conversation"]["unread_count"] == 3


async def test_api_metrics_expose_counters(http: httpx.AsyncClient, token_for: Any) -> None:
    await post(http, samples.envelope([samples.text_message(PHONE)]))
    await http.post(defaults.WEBHOOK_PATH, content=b"{}")
    await http.get(f"{CONVS}/1", headers=auth(token_for("demo")))
    text = (await http.get("/metrics")).text
    assert 'wasim_webhooks_total{outcome="stored"} 1.0' in text
    assert 'wasim_webhooks_total{outcome="bad_signature"} 1.0' in text
    assert 'route="/api/whatsapp/conversations/{conversation_id}"' in text
    assert "wasim_events_emitted_total{" not in text  # nobody listened: nothing was emitted
    assert 'wasim_open_connections{transport="sse"} 0.0' in text
    assert "wasim_database_queries_total" in text


async def test_api_health_and_docs(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/docs")).status_code == 200
    assert defaults.WEBHOOK_PATH in (await http.get("/openapi.json")).json()["paths"]


async def test_api_cors_only_for_frontend_origin(http: httpx.AsyncClient) -> None:
    good = await http.get("/healthz", headers={"Origin": "http://localhost:3000"})
    bad = await http.get("/healthz", headers={"Origin": "http://evil.example"})
    assert good.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "access-control-allow-origin" not in bad.headers
