"""The webhook door: handshake, signature, size, JSON, and every message type stored."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import samples

from tests.helpers import sign
from wasim import defaults

HOOK = defaults.WEBHOOK_PATH
PHONE = "5215512345678"


async def post(http: httpx.AsyncClient, doc: dict[str, Any]) -> httpx.Response:
    body, headers = samples.signed(doc)
    return await http.post(HOOK, content=body, headers=headers)


async def messages_of(http: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {token}"}
    listed = (await http.get(defaults.CONVERSATIONS_PATH, headers=auth)).json()
    found: list[dict[str, Any]] = []
    for conv in listed["conversations"]:
        one = await http.get(f"{defaults.CONVERSATIONS_PATH}/{conv['id']}", headers=auth)
        found += one.json()["messages"]
    return found


async def test_webhook_handshake_echoes_challenge(http: httpx.AsyncClient) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": defaults.VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    answer = await http.get(HOOK, params=params)
    assert (answer.status_code, answer.text) == (200, "1158201444")


async def test_webhook_handshake_wrong_token_is_403(http: httpx.AsyncClient) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    assert (await http.get(HOOK, params=params)).status_code == 403


BODY = json.dumps(samples.envelope([samples.text_message(PHONE)])).encode()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"X-Hub-Signature-256": sign(BODY, "wrong-secret")}, id="wrong-secret"),
        pytest.param({"X-Hub-Signature-256": "md5=abc"}, id="malformed"),
        pytest.param({"X-Hub-Signature-256": sign(BODY + b" ")}, id="body-changed"),
    ],
)
async def test_webhook_bad_signature_is_401(
    http: httpx.AsyncClient, headers: dict[str, str], token_for: Any
) -> None:
    answer = await http.post(HOOK, content=BODY, headers=headers)
    assert answer.status_code == 401
    assert await messages_of(http, token_for("demo")) == []


async def test_webhook_oversize_is_413(http: httpx.AsyncClient) -> None:
    body = b"{" + b" " * defaults.MAX_WEBHOOK_BYTES + b"}"
    answer = await http.post(HOOK, content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert answer.status_code == 413


async def test_webhook_oversize_streamed_without_length_is_413(http: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(4):
            yield b" " * (1024 * 1024)

    answer = await http.post(HOOK, content=chunks(), headers={"X-Hub-Signature-256": "sha256=0"})
    assert answer.status_code == 413


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"a": "\\ud83d'], ids=str)
async def test_webhook_not_a_json_object_is_400(http: httpx.AsyncClient, body: bytes) -> None:
    answer = await http.post(HOOK, content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert answer.status_code == 400
    assert (await http.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"object": "page", "entry": []}, id="other-object"),
        pytest.param({"object": "whatsapp_business_account", "entry": "x"}, id="entry-not-list"),
        pytest.param(
            samples.envelope(errors=[{"code": 130429, "title": "Rate limit hit"}]),
            id="value-errors",
        ),
        pytest.param(samples.envelope([{"type": "text"}]), id="message-without-id"),
    ],
)
async def test_webhook_unhandled_shape_is_200(http: httpx.AsyncClient, doc: Any) -> None:
    assert (await post(http, doc)).status_code == 200


def _msg(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return samples.message(PHONE, kind, content, **extra)


CASES = [
    (_msg("text", {"body": "hi there"}), "text", "hi there"),
    (
        _msg("image", {"caption": "look", "mime_type": "image/jpeg", "id": "1"}),
        "image",
        "[image] look",
    ),
    (
        _msg("audio", {"mime_type": "audio/ogg", "id": "2", "voice": True}),
        "audio",
        "[voice message]",
    ),
    (_msg("video", {"mime_type": "video/mp4", "id": "3"}), "video", "[video]"),
    (
        _msg("document", {"filename": "receipt.pdf", "id": "4"}),
        "document",
        "[document] receipt.pdf",
    ),
    (
        _msg("sticker", {"mime_type": "image/webp", "id": "5", "animated": True}),
        "sticker",
        "[sticker]",
    ),
    (
        _msg("location", {"latitude": 37.48, "longitude": -122.14, "name": "Meta HQ"}),
        "location",
        "[location] Meta HQ (37.48, -122.14)",
    ),
    (
        {**_msg("contacts", None), "contacts": [{"name": {"formatted_name": "Jane Doe"}}]},
        "contacts",
        "[contact] Jane Doe",
    ),
    (
        _msg(
            "interactive", {"type": "button_reply", "button_reply": {"id": "c", "title": "Cancel"}}
        ),
        "interactive",
        "Cancel",
    ),
    (
        _msg("interactive", {"type": "list_reply", "list_reply": {"id": "r", "title": "Row 1"}}),
        "interactive",
        "Row 1",
    ),
    (
        _msg(
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"body": "Sent", "response_json": "{}"}},
        ),
        "interactive",
        "Sent",
    ),
    (_msg("button", {"payload": "approve", "text": "Approve"}), "button", "Approve"),
    (_msg("reaction", {"message_id": "wamid.x", "emoji": "👍"}), "reaction", "reacted 👍"),
    (_msg("reaction", {"message_id": "wamid.x"}), "reaction", "removed a reaction"),
    (
        _msg("order", {"catalog_id": "1", "text": "Love these!", "product_items": [{}, {}]}),
        "order",
        "[order] 2 items: Love these!",
    ),
    (
        _msg(
            "system", {"body": "User changed number", "wa_id": "1", "type": "user_changed_number"}
        ),
        "system",
        "User changed number",
    ),
    (
        _msg("system", {"new_wa_id": "1", "type": "customer_changed_number"}),
        "system",
        "[system: customer_changed_number]",
    ),
    (
        _msg(
            "unsupported",
            {"type": "poll_update"},
            errors=[{"code": 131051, "title": "Message type unknown"}],
        ),
        "unsupported",
        "[unsupported poll_update] Message type unknown",
    ),
    (_msg("hologram", {"x": 1}), "hologram", "[hologram]"),
]


@pytest.mark.parametrize(
    ("message", "kind", "text"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)]
)
async def test_webhook_every_message_type_stored(
    http: httpx.AsyncClient, token_for: Any, message: dict[str, Any], kind: str, text: str
) -> None:
    assert (await post(http, samples.envelope([message]))).status_code == 200
    [stored] = await messages_of(http, token_for("demo"))
    assert (stored["wamid"], stored["type"], stored["text"]) == (message["id"], kind, text)


async def test_webhook_meta_style_bytes_stored(http: httpx.AsyncClient, token_for: Any) -> None:
    doc = samples.envelope([samples.text_message(PHONE, "café 👍 a/b")])
    body = json.dumps(doc, separators=(",", ":")).replace("/", "\\/").encode()
    answer = await http.post(HOOK, content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert answer.status_code == 200
    [stored] = await messages_of(http, token_for("demo"))
    assert stored["text"] == "café 👍 a/b"


async def test_webhook_batch_stores_every_entry_and_message(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    first, second = (
        samples.envelope([samples.text_message(PHONE, "a"), samples.text_message(PHONE, "b")]),
        samples.envelope([samples.text_message("441234", "c")]),
    )
    doc = {**first, "entry": first["entry"] + second["entry"]}
    assert (await post(http, doc)).status_code == 200
    texts = sorted(m["text"] for m in await messages_of(http, token_for("demo")))
    assert texts == ["a", "b", "c"]


async def test_webhook_lone_surrogate_and_nul_stored(
    http: httpx.AsyncClient, token_for: Any
) -> None:
    body = (
        json.dumps(samples.envelope([samples.text_message(PHONE, "x")]))
        .replace('"x"', '"\\ud83d\\u0000y"')
        .encode()
    )
    answer = await http.post(HOOK, content=body, headers={"X-Hub-Signature-256": sign(body)})
    assert answer.status_code == 200
    [stored] = await messages_of(http, token_for("demo"))
    assert stored["text"] == "?y"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="fast-path"),
        pytest.param({"Origin": "http://localhost:3000"}, id="fastapi-route"),
    ],
)
async def test_webhook_both_doors_answer_alike(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    body, signed = samples.signed(samples.envelope([samples.text_message(PHONE)]))
    ok = await http.post(HOOK, content=body, headers={**signed, **headers})
    bad = await http.post(HOOK, content=body, headers=headers)
    assert (ok.status_code, ok.json()) == (200, {"status": "ok"})
    assert ok.headers["content-type"] == "application/json"
    assert (bad.status_code, bad.json()) == (401, {"detail": "missing or bad X-Hub-Signature-256"})
    if headers:
        assert ok.headers["access-control-allow-origin"] == "http://localhost:3000"


async def test_webhook_fast_path_is_counted_under_its_route(http: httpx.AsyncClient) -> None:
    body, headers = samples.signed(samples.envelope([samples.text_message(PHONE)]))
    assert (await http.post(HOOK, content=body, headers=headers)).status_code == 200
    metrics = (await http.get("/metrics")).text
    assert f'wasim_http_requests_total{{method="POST",route="{HOOK}",status="200"}} 1.0' in metrics
