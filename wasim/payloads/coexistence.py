"""Coexistence with the WhatsApp Business app (reference §5b): echoes, history, contacts.

A business onboarded to Cloud API that keeps using the phone app gets three more webhook fields:
- `smb_message_echoes`: `value.message_echoes[]`, what the business sent from the app, with
  `from` (the business) and `to` (the user); an edit is `type: edit` with
  `edit.original_message_id` and the new `message`, a revoke `type: revoke` with
  `revoke.original_message_id` (Meta's smb_message_echoes reference, Apr 2026 [DOC]; the edit and
  revoke bodies as Dualhook documents them [BSP]);
- `history`: `value.history[]` chunks, each `metadata` {phase 0-2, chunk_order, progress 0-100}
  and `threads[]` of past messages with `history_context.status` (Meta's history reference,
  Dec 2025 [DOC]); group chats are never included;
- `smb_app_state_sync`: `value.state_sync[]` contact changes, `action` add or remove, names
  omitted on remove (Meta's smb_app_state_sync reference, Oct 2025 [DOC]).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wasim.payloads import ids
from wasim.payloads.messages import BUILDERS
from wasim.payloads.model import JSON, Contact, Update

if TYPE_CHECKING:
    from wasim.payloads.factory import PayloadFactory

ECHOES = "smb_message_echoes"
# What a business sends from the app, by weight: mostly text.
ECHO_TYPES = {"text": 70, "image": 12, "document": 6, "voice": 5, "location": 4, "sticker": 3}
# history_context.status values (Meta's history reference).
HISTORY_STATUSES = ("DELIVERED", "READ", "SENT", "PLAYED", "ERROR", "PENDING")
HISTORY_PHASE_DAYS = ((0, 1), (1, 90), (90, 180))  # phase -> days before onboarding
DAY = 86_400


def echo(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A message the business sent from the WhatsApp Business app (or a linked device)."""
    who = f.contact(phone)
    kind = f.rng.choices(list(ECHO_TYPES), list(ECHO_TYPES.values()))[0]
    wire, build = BUILDERS[kind]
    ts = f.now()
    item: JSON = {
        "from": f.display_phone_number,
        "to": who.phone,
        "id": ids.wamid(f.rng, who.phone, inbound=False),
        "timestamp": ts,
        "type": wire,
        wire: build(f.draw, ts, {"name": who.name, "phone": who.phone}),
    }
    f.mark(item, wire)
    f.sent_echoes[who.phone] = (item["id"], wire)
    return [Update("message_echoes", item, None, ECHOES)]


def echo_edit(f: PayloadFactory, phone: str | None) -> list[Update]:
    """The business edited a message it sent from the app: the last one to this person."""
    who, original, wire = _original(f, phone)
    new: JSON = {"type": wire}
    if wire == "text":
        new["text"] = {"body": f.draw.text()}
    else:
        new[wire] = {"caption": f.draw.text()}
    item = _echo_item(f, who.phone, "edit", {"original_message_id": original, "message": new})
    return [Update("message_echoes", item, None, ECHOES)]


def echo_revoke(f: PayloadFactory, phone: str | None) -> list[Update]:
    """The business deleted (revoked) a message it sent from the app."""
    who, original, _ = _original(f, phone)
    item = _echo_item(f, who.phone, "revoke", {"original_message_id": original})
    f.sent_echoes.pop(who.phone, None)
    return [Update("message_echoes", item, None, ECHOES)]


def _original(f: PayloadFactory, phone: str | None) -> tuple[Contact, str, str]:
    who = f.contact(phone)
    sent = f.sent_echoes.get(who.phone)
    if sent is None:
        return who, ids.wamid(f.rng, who.phone, inbound=False), "text"
    return who, sent[0], sent[1]


def _echo_item(f: PayloadFactory, to: str, kind: str, body: JSON) -> JSON:
    return {
        "from": f.display_phone_number,
        "to": to,
        "id": ids.wamid(f.rng, to, inbound=False),
        "timestamp": f.now(),
        "type": kind,
        kind: body,
    }


def history(f: PayloadFactory, phone: str | None) -> list[Update]:
    """One chunk of the chat history of the months before onboarding (1-3 threads)."""
    phase = f.rng.randrange(3)
    threads = [_thread(f, phone if n == 0 else None, phase) for n in range(f.rng.randint(1, 3))]
    chunk: JSON = {
        "metadata": {
            "phase": phase,
            "chunk_order": f.rng.randint(1, 12),
            "progress": min(100, 34 * phase + f.rng.randint(1, 34)),
        },
        "threads": threads,
    }
    return [Update("history", chunk, None, "history")]


def _thread(f: PayloadFactory, phone: str | None, phase: int) -> JSON:
    who = f.contact(phone)
    low, high = HISTORY_PHASE_DAYS[phase]
    at = int(f.now()) - f.rng.randint(low * DAY, high * DAY)
    messages = []
    for _ in range(f.rng.randint(2, 6)):
        at += f.rng.randint(20, 4 * 3600)
        from_user = f.rng.random() < 0.5
        message: JSON = {"from": who.phone if from_user else f.display_phone_number}
        if not from_user:  # `to` appears only on what the business sent (an echo)
            message["to"] = who.phone
        message["id"] = ids.wamid(f.rng, who.phone, inbound=from_user)
        message["timestamp"] = str(at)
        message["type"] = "text"
        message["text"] = {"body": f.draw.text()}
        status = "READ" if from_user else f.rng.choice(HISTORY_STATUSES[:4])
        message["history_context"] = {"status": status}
        messages.append(message)
    return {"id": who.phone, "messages": messages}


def app_state_sync(f: PayloadFactory, phone: str | None) -> list[Update]:
    """A contact added to (or, one time in ten, removed from) the business app's address book."""
    who = f.contact(phone)
    removed = f.rng.random() < 0.1
    contact: JSON = {"phone_number": who.phone}
    if not removed:
        first = who.name.split()[0] if who.name.split() else who.name
        contact = {"full_name": who.name, "first_name": first, **contact}
    item = {
        "type": "contact",
        "contact": contact,
        "action": "remove" if removed else "add",
        "metadata": {"timestamp": f.now()},
    }
    return [Update("state_sync", item, None, "smb_app_state_sync")]
