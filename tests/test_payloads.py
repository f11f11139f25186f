"""The payload library: every type and status, both shapes, seeds, ids."""

from __future__ import annotations

import base64
import json

import pytest

from wasim.errors import ConfigError
from wasim.payloads import MESSAGE_KINDS, STATUS_KINDS, PayloadFactory
from wasim.send import encode

WIRE_TYPE = {"voice": "audio", "button_reply": "interactive", "list_reply": "interactive",
             "nfm_reply": "interactive", "unreaction": "reaction"}  # fmt: skip


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_payloads_message_has_meta_shape(kind: str) -> None:
    factory = PayloadFactory(seed=7)
    body = factory.envelope(factory.message(kind))
    value = body["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    wire = WIRE_TYPE.get(kind, kind)
    assert body["object"] == "whatsapp_business_account"
    assert body["entry"][0]["id"] == factory.waba_id
    assert list(value)[:2] == ["messaging_product", "metadata"]
    assert message["type"] == wire and wire in message
    assert message["id"].startswith("wamid.") and isinstance(message["timestamp"], str)
    assert ("contacts" in value) == (kind != "system")
    assert list(body["entry"][0]["changes"][0]) == ["value", "field"]


def test_payloads_special_bodies() -> None:
    factory = PayloadFactory(seed=3)
    voice = factory.message("voice").item
    unreaction = factory.message("unreaction").item
    unsupported = factory.message("unsupported").item
    nfm = factory.message("nfm_reply").item
    assert voice["audio"]["voice"] is True
    assert "emoji" not in unreaction["reaction"]
    assert unsupported["errors"][0]["code"] == 131051
    assert isinstance(nfm["interactive"]["nfm_reply"]["response_json"], str)
    assert nfm["context"]["from"] == factory.display_phone_number


@pytest.mark.parametrize("status", STATUS_KINDS)
def test_payloads_status_has_meta_shape(status: str) -> None:
    factory = PayloadFactory(seed=5)
    update = factory.status(status, wamid="wamid.X", recipient="5215512345678")
    value = factory.value(update)
    item = value["statuses"][0]
    assert (item["id"], item["status"], item["recipient_id"]) == (
        "wamid.X",
        status,
        "5215512345678",
    )
    assert ("contacts" in value) == (status in ("sent", "delivered", "read", "played"))
    assert ("pricing" in item) == (status in ("sent", "delivered"))
    assert "conversation" not in item
    assert ("errors" in item) == (status == "failed")


def test_payloads_pre2026_shape_has_no_bsuid_and_has_conversation() -> None:
    factory = PayloadFactory(seed=5, shape="pre2026")
    message = factory.value(factory.message("text"))
    sent = factory.value(factory.status("sent"))
    assert "user_id" not in message["contacts"][0] and "from_user_id" not in message["messages"][0]
    assert "contacts" not in sent
    assert "expiration_timestamp" in sent["statuses"][0]["conversation"]


@pytest.mark.parametrize("skip", [True, False], ids=["skip-delivered", "full"])
def test_payloads_lifecycle_prices_once_after_sent(skip: bool) -> None:
    updates = PayloadFactory(seed=1).lifecycle(skip_delivered=skip)
    names = [u.status for u in updates]
    priced = [u.status for u in updates if "pricing" in u.item]
    assert names == (["sent", "read"] if skip else ["sent", "delivered", "read"])
    assert priced == ["sent", "read" if skip else "delivered"]
    assert len({u.wamid for u in updates}) == 1


def test_payloads_value_error() -> None:
    factory = PayloadFactory(seed=1)
    value = factory.value(factory.error(130429))
    assert value["errors"][0]["title"] == value["errors"][0]["message"] == "Rate limit hit"


def test_payloads_seed_gives_identical_bytes() -> None:
    def run() -> bytes:
        factory = PayloadFactory(seed=42)
        return encode(factory.envelope(*(factory.message(k) for k in MESSAGE_KINDS)))

    assert run() == run()
    assert run() != encode(
        PayloadFactory(seed=43).envelope(PayloadFactory(seed=43).message("text"))
    )


def test_payloads_wamid_decodes_like_real_ones() -> None:
    factory = PayloadFactory(seed=9)
    raw = base64.b64decode(factory.new_wamid("16505551234").removeprefix("wamid."))
    assert raw.startswith(b"\x1c\x18\x0b16505551234\x15\x02\x00\x12\x18")
    assert raw.endswith(b"\x00")


def test_payloads_overrides_and_batch() -> None:
    factory = PayloadFactory(seed=2)
    text = factory.message("text", context="forwarded", **{"text.body": "hola", "timestamp": "1"})
    body = factory.batch([text, factory.status("read")])
    assert text.item["text"]["body"] == "hola" and text.item["timestamp"] == "1"
    assert text.item["context"] == {"forwarded": True}
    assert len(body["entry"][0]["changes"]) == 2
    json.dumps(body)


def test_payloads_bad_input_raises_config_error() -> None:
    with pytest.raises(ConfigError):
        PayloadFactory().message("selfie")
    with pytest.raises(ConfigError):
        PayloadFactory(shape="2019")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        PayloadFactory().message("text", **{"text.body.x.0": 1})
