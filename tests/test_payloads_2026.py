"""The 2025-2026 webhooks (reference §5b): each kind's field and shape, seeds, the two shapes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from wasim.payloads import KINDS, PayloadFactory
from wasim.send import encode
from wasim.send.encoding import EnvelopeWriter

NEW_KINDS = [k.name for k in KINDS.values() if k.source.startswith("§5b")]
PHONE = "5215512345678"


def change(factory: PayloadFactory, kind: str) -> dict[str, Any]:
    (update,) = factory.updates(kind, PHONE)
    result: dict[str, Any] = factory.envelope(update)["entry"][0]["changes"][0]
    return result


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_payloads_new_kind_names_its_field(kind: str) -> None:
    factory = PayloadFactory(seed=12)
    body = factory.envelope(*factory.updates(kind, PHONE))
    fields = {c["field"] for c in body["entry"][0]["changes"]}
    assert fields == {KINDS[kind].field}
    assert body["object"] == "whatsapp_business_account"
    assert body["entry"][0]["id"] == factory.waba_id


def test_payloads_echo_edit_and_revoke_point_at_the_echo() -> None:
    factory = PayloadFactory(seed=2)
    echo = change(factory, "echo")["value"]["message_echoes"][0]
    edit = change(factory, "echo_edit")["value"]["message_echoes"][0]
    revoke = change(factory, "echo_revoke")["value"]["message_echoes"][0]
    assert (echo["from"], echo["to"]) == (factory.display_phone_number, PHONE)
    raw = base64.b64decode(echo["id"].removeprefix("wamid."))
    assert raw[6 + len(PHONE)] == 0x11  # a business (outbound) message key
    assert echo["type"] in echo and "contacts" not in change(factory, "echo")["value"]
    assert edit["edit"]["original_message_id"] == echo["id"] and "message" in edit["edit"]
    assert revoke["revoke"] == {"original_message_id": echo["id"]}


def test_payloads_history_chunk_has_phase_progress_and_threads() -> None:
    chunk = change(PayloadFactory(seed=3), "history")["value"]["history"][0]
    meta = chunk["metadata"]
    assert meta["phase"] in (0, 1, 2) and 0 < meta["progress"] <= 100
    assert isinstance(meta["chunk_order"], int) and chunk["threads"][0]["id"] == PHONE
    for message in chunk["threads"][0]["messages"]:
        business = message["from"] != PHONE
        assert ("to" in message) == business and "status" in message["history_context"]


def test_payloads_user_preferences_stop_and_resume() -> None:
    factory = PayloadFactory(seed=4)
    stop = change(factory, "user_preferences")["value"]
    resume = change(factory, "user_preferences_resume")["value"]["user_preferences"][0]
    item = stop["user_preferences"][0]
    assert (item["wa_id"], item["value"], item["category"]) == (PHONE, "stop", "marketing_messages")
    assert isinstance(item["timestamp"], int) and "stop" in item["detail"]
    assert resume["value"] == "resume" and stop["contacts"][0]["wa_id"] == PHONE


def test_payloads_user_changed_user_id_moves_the_contact() -> None:
    factory = PayloadFactory(seed=5)
    before = factory.contact(PHONE)
    value = change(factory, "user_changed_user_id")["value"]
    message = value["messages"][0]
    after = factory.message("text", from_phone=PHONE).item["from_user_id"]
    assert "contacts" not in value and "from" not in message
    assert message["system"]["previous_user_id"] == before.user_id
    assert message["system"]["user_id"] == after != before.user_id
    assert message["system"]["type"] == "user_changed_user_id"


def test_payloads_user_id_update_names_both_ids() -> None:
    factory = PayloadFactory(seed=6)
    before = factory.contact(PHONE).user_id
    item = change(factory, "user_id_update")["value"]["user_id_update"][0]
    assert item["wa_id"] == PHONE and item["user_id"]["previous"] == before
    assert item["user_id"]["current"] == factory.contact(PHONE).user_id != before


@pytest.mark.parametrize("shape", ["current", "pre2026"])
def test_payloads_changed_number_carries_ids_in_current_shape(shape: str) -> None:
    factory = PayloadFactory(seed=7, shape=shape)  # type: ignore[arg-type]
    before = factory.contact(PHONE).user_id
    system = factory.message("system", from_phone=PHONE).item["system"]
    assert ("previous_user_id" in system) == (shape == "current")
    if shape == "current":
        assert system["previous_user_id"] == before
        assert factory.contact(system["wa_id"]).user_id == system["user_id"]


def test_payloads_call_is_sent_whole_in_order() -> None:
    factory = PayloadFactory(seed=8)
    for _ in range(6):
        updates = factory.updates("call", PHONE)
        ids = {u.item["id"] for u in updates}
        events = [u.item.get("event") or u.item["status"] for u in updates]
        assert len(ids) == 1 and next(iter(ids)).startswith("wacid.")
        assert events[0] == "connect" and events[-1] == "terminate"
        assert updates[0].item["session"]["sdp"].startswith("v=0\r\n")
        if len(updates) > 2:  # business-initiated: statuses ride value.statuses[]
            assert events[1:3] in (["RINGING", "ACCEPTED"], ["RINGING", "REJECTED"])
            assert all(u.field == "statuses" and u.item["type"] == "call" for u in updates[1:3])
        assert updates[-1].item["status"] in ("COMPLETED", "FAILED")


def test_payloads_call_terminate_has_times_and_duration() -> None:
    item = change(PayloadFactory(seed=9), "call_terminate")["value"]["calls"][0]
    assert int(item["end_time"]) - int(item["start_time"]) == item["duration"]
    assert item["from"] == PHONE and "." in item["from_user_id"]


def test_payloads_group_events_refer_to_created_groups() -> None:
    factory = PayloadFactory(seed=10)
    created = change(factory, "group_lifecycle_update")["value"]["groups"][0]
    joined = change(factory, "group_participants_update")["value"]["groups"][0]
    assert created["type"] == "group_create" and created["invite_link"].startswith("https://")
    assert joined["group_id"] == created["group_id"]
    people = joined.get("added_participants") or joined["removed_participants"]
    assert people[0]["wa_id"] == PHONE


@pytest.mark.parametrize("shape", ["current", "pre2026"])
def test_payloads_account_fields_are_flat(shape: str) -> None:
    factory = PayloadFactory(seed=11, shape=shape)  # type: ignore[arg-type]
    account = change(factory, "account_update")["value"]
    capability = change(factory, "business_capability_update")["value"]
    assert "metadata" not in account and account["event"]
    per = "max_daily_conversations_per_business" if shape == "current" else None
    assert (per or "max_daily_conversation_per_phone") in capability


def test_payloads_played_reads_like_read_and_failed_has_two_shapes() -> None:
    factory = PayloadFactory(seed=12)
    played = factory.value(factory.status("played", recipient=PHONE))
    failed = factory.value(factory.status("failed", recipient=PHONE))
    other = PayloadFactory(seed=12, failed_contacts=True)
    failed_with = other.value(other.status("failed", recipient=PHONE))
    assert played["contacts"][0]["wa_id"] == PHONE
    assert "contacts" not in failed and failed["statuses"][0]["recipient_user_id"]
    assert failed_with["contacts"][0]["wa_id"] == PHONE


def test_payloads_seed_repeats_every_kind_byte_for_byte() -> None:
    def run(seed: int) -> bytes:
        factory = PayloadFactory(seed=seed)
        return b"".join(encode(factory.envelope(*factory.updates(k))) for k in KINDS)

    assert run(1) == run(1) != run(2)


@pytest.mark.parametrize("style", ["meta", "plain"])
@pytest.mark.parametrize("shape", ["current", "pre2026"])
def test_payloads_envelope_writer_gives_encode_bytes(style: str, shape: str) -> None:
    factory = PayloadFactory(seed=13, shape=shape)  # type: ignore[arg-type]
    writer = EnvelopeWriter(factory, style)  # type: ignore[arg-type]
    for kind in [*KINDS] * 2:
        updates = factory.updates(kind)
        assert writer.encode(updates) == encode(factory.envelope(*updates), style)  # type: ignore[arg-type]


def test_payloads_every_kind_has_its_source_and_a_summary() -> None:
    for kind in KINDS.values():
        assert kind.source.startswith("§") and kind.summary
        assert json.dumps(kind.field)


def test_payloads_contract_lists_every_new_kind_with_its_source() -> None:
    contract = (Path(__file__).parent.parent / "docs" / "contract.md").read_text()
    for name in NEW_KINDS:
        assert f"| `{name}` | `{KINDS[name].field}` |" in contract, name
        assert KINDS[name].source in contract, name
