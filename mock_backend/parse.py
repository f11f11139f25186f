"""Meta's webhook payload → the messages, statuses, calls and contact changes it carries.

Every entry, change, message and status is visited (Meta batches). Each message becomes
(type, display text, raw object); shapes we do not handle are counted, never fatal. Besides
`messages`, the 2025-2026 fields are read (reference §5b): `smb_message_echoes` (messages the
business sent from the phone app: outbound messages), `calls` (call events), and the contact
changes of `user_preferences`, `user_id_update`, `smb_app_state_sync` and identity system
messages. `history`, groups, `account_update` and `business_capability_update` are counted.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("mock_backend.webhook")

MEDIA_TYPES = ("image", "video", "document", "sticker", "audio")
STATUSES = ("sent", "delivered", "read", "played", "failed")


@dataclass(frozen=True)
class Inbound:
    """A message in a conversation with `phone`: one the contact sent to the business, or
    (`outbound`) an echo of one the business sent from the WhatsApp Business app."""

    wamid: str
    phone: str
    contact_name: str | None
    type: str
    text: str
    timestamp: str
    raw: str
    user_id: str | None = None  # the contact's business-scoped id, when the webhook has it
    outbound: bool = False
    business_phone: str = ""  # who sent an outbound one


@dataclass(frozen=True)
class Status:
    """A lifecycle update of a message the business sent."""

    wamid: str
    status: str
    timestamp: str
    recipient_id: str
    errors: list[Any] | None
    raw: str


@dataclass(frozen=True)
class Call:
    """A call event (`connect`, `terminate`) or a call status (RINGING, ACCEPTED, REJECTED)."""

    call_id: str
    phone: str
    event: str  # connect, terminate, or the status
    direction: str | None
    status: str | None
    timestamp: str
    duration: int | None


@dataclass(frozen=True)
class ContactChange:
    """What a webhook says about a contact: found by `phone`, else by `previous_user_id`."""

    phone: str | None
    user_id: str | None = None
    previous_user_id: str | None = None
    name: str | None = None
    marketing: str | None = None  # stop | resume (user_preferences)
    changed_to: str | None = None  # the new number (user_changed_number)


Item = Inbound | Status | Call | ContactChange
# Fields that are read and counted but not stored (the backend acknowledges them with a 200).
ACKNOWLEDGED = (
    "history",
    "group_lifecycle_update",
    "group_participants_update",
    "group_settings_update",
    "group_status_update",
    "account_update",
    "business_capability_update",
)


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)
    errors: int = 0
    fields: Counter[str] = field(default_factory=Counter)  # updates by webhook field


def clean(value: object, limit: int = 4096) -> str:
    """A string safe for any database: no NUL, no lone surrogate, bounded."""
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_webhook(doc: dict[str, Any]) -> Parsed:
    """Walk a decoded webhook body; unknown shapes are logged and counted."""
    parsed = Parsed()
    if doc.get("object") != "whatsapp_business_account":
        log.info("webhook for object %r not handled", clean(doc.get("object"), 64))
    for entry in _list(doc.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            name = _dict(change).get("field")
            field_name = name if isinstance(name, str) else "messages"
            reader = FIELDS.get(field_name)
            if reader is not None:
                reader(value, parsed)
            elif field_name in ACKNOWLEDGED:
                parsed.fields[field_name] += _count(value)
            else:
                _parse_value(value, parsed)  # an unknown field may still hold messages
    return parsed


def _count(value: dict[str, Any]) -> int:
    lists = [v for k, v in value.items() if isinstance(v, list) and k != "contacts"]
    return sum(len(v) for v in lists) or 1


def _people(value: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """wa_id -> (profile name, business-scoped id) from `value.contacts`."""
    return {
        clean(_dict(c).get("wa_id"), 64): (
            _dict(_dict(c).get("profile")).get("name"),
            _dict(c).get("user_id"),
        )
        for c in _list(value.get("contacts"))
    }


def _parse_value(value: dict[str, Any], parsed: Parsed) -> None:
    people = _people(value)
    for message in _list(value.get("messages")):
        parsed.fields["messages"] += 1
        change = _identity_change(_dict(message))
        if change is not None:
            parsed.items.append(change)
        item = _inbound(_dict(message), people)
        if item is None:
            if change is None:
                log.info("message without id or sender not handled")
        else:
            parsed.items.append(item)
    for status in _list(value.get("statuses")):
        parsed.fields["statuses"] += 1
        update = _status(_dict(status))
        if update is None:
            log.info("status without id, recipient or known status not handled")
        else:
            parsed.items.append(update)
    for error in _list(value.get("errors")):
        parsed.errors += 1
        log.warning(
            "webhook error %s: %s",
            clean(_dict(error).get("code"), 32),
            clean(_dict(error).get("title"), 200),
        )
    if not any(key in value for key in ("messages", "statuses", "errors")):
        log.info("change value with keys %s not handled", sorted(value)[:10])


def _inbound(message: dict[str, Any], people: dict[str, tuple[Any, Any]]) -> Inbound | None:
    wamid = message.get("id")
    sender = message.get("from") or message.get("from_user_id")
    if not wamid or not sender:
        return None
    phone = clean(sender, 64)
    name, user_id = people.get(phone, (None, None))
    user_id = user_id or message.get("from_user_id")
    kind = clean(message.get("type") or "unknown", 64)
    return Inbound(
        wamid=clean(wamid, 256),
        phone=phone,
        contact_name=clean(name, 256) if isinstance(name, str) else None,
        type=kind,
        text=clean(display_text(kind, message)),
        timestamp=clean(message.get("timestamp", ""), 32),
        raw=json.dumps(message),
        user_id=clean(user_id, 160) if isinstance(user_id, str) and user_id else None,
    )


def _identity_change(message: dict[str, Any]) -> ContactChange | None:
    """A system message that moves a contact to a new number or business-scoped id."""
    system = _dict(message.get("system"))
    kind = system.get("type")
    new_id = system.get("user_id")
    previous = system.get("previous_user_id")
    if kind in ("user_changed_number", "customer_changed_number"):
        new_phone = system.get("wa_id") or system.get("new_wa_id")
        if not message.get("from") or not new_phone:
            return None
        return ContactChange(
            phone=clean(message["from"], 64),
            user_id=_text(new_id),
            previous_user_id=_text(previous),
            changed_to=clean(new_phone, 64),
        )
    if kind == "user_changed_user_id" and isinstance(new_id, str) and new_id:
        phone = system.get("wa_id") or message.get("from")
        return ContactChange(
            phone=clean(phone, 64) if phone else None,
            user_id=clean(new_id, 160),
            previous_user_id=_text(previous),
        )
    return None


def _text(value: object, limit: int = 160) -> str | None:
    return clean(value, limit) if isinstance(value, str) and value else None


def _echoes(value: dict[str, Any], parsed: Parsed) -> None:
    """`smb_message_echoes`: what the business sent from the app, an outbound message each."""
    for echo in map(_dict, _list(value.get("message_echoes"))):
        parsed.fields["smb_message_echoes"] += 1
        wamid, to = echo.get("id"), echo.get("to") or echo.get("to_user_id")
        if not wamid or not to:
            continue
        kind = clean(echo.get("type") or "unknown", 64)
        parsed.items.append(
            Inbound(
                wamid=clean(wamid, 256),
                phone=clean(to, 64),
                contact_name=None,
                type=kind,
                text=clean(display_text(kind, echo)),
                timestamp=clean(echo.get("timestamp", ""), 32),
                raw=json.dumps(echo),
                outbound=True,
                business_phone=clean(echo.get("from") or "", 64),
            )
        )


def _calls(value: dict[str, Any], parsed: Parsed) -> None:
    """`calls`: connect and terminate events, and the statuses of a business's call."""
    for call in map(_dict, _list(value.get("calls"))):
        parsed.fields["calls"] += 1
        outbound = call.get("direction") == "BUSINESS_INITIATED"
        phone = call.get("to") if outbound else call.get("from")
        event = call.get("event")
        if not call.get("id") or not phone or not isinstance(event, str):
            continue
        duration = call.get("duration")
        parsed.items.append(
            Call(
                call_id=clean(call["id"], 256),
                phone=clean(phone, 64),
                event=clean(event, 32),
                direction=_text(call.get("direction"), 32),
                status=_text(call.get("status"), 32),
                timestamp=clean(call.get("timestamp", ""), 32),
                duration=duration if isinstance(duration, int) else None,
            )
        )
    for status in map(_dict, _list(value.get("statuses"))):
        parsed.fields["calls"] += 1
        phone, state = status.get("recipient_id"), status.get("status")
        if not status.get("id") or not phone or not isinstance(state, str):
            continue
        parsed.items.append(
            Call(
                call_id=clean(status["id"], 256),
                phone=clean(phone, 64),
                event=clean(state, 32),
                direction="BUSINESS_INITIATED",
                status=clean(state, 32),
                timestamp=clean(status.get("timestamp", ""), 32),
                duration=None,
            )
        )


def _preferences(value: dict[str, Any], parsed: Parsed) -> None:
    """`user_preferences`: a user stopped or resumed marketing messages."""
    for pref in map(_dict, _list(value.get("user_preferences"))):
        parsed.fields["user_preferences"] += 1
        phone, choice = pref.get("wa_id"), pref.get("value")
        if not phone or choice not in ("stop", "resume"):
            continue
        parsed.items.append(ContactChange(phone=clean(phone, 64), marketing=str(choice)))


def _user_id_updates(value: dict[str, Any], parsed: Parsed) -> None:
    """`user_id_update`: {wa_id, user_id {previous, current}}."""
    for update in map(_dict, _list(value.get("user_id_update"))):
        parsed.fields["user_id_update"] += 1
        ids = _dict(update.get("user_id"))
        current = _text(ids.get("current"))
        phone = update.get("wa_id")
        if current is None or not (phone or ids.get("previous")):
            continue
        parsed.items.append(
            ContactChange(
                phone=clean(phone, 64) if phone else None,
                user_id=current,
                previous_user_id=_text(ids.get("previous")),
            )
        )


def _state_sync(value: dict[str, Any], parsed: Parsed) -> None:
    """`smb_app_state_sync`: the business app's address book; an added contact's name."""
    for sync in map(_dict, _list(value.get("state_sync"))):
        parsed.fields["smb_app_state_sync"] += 1
        contact = _dict(sync.get("contact"))
        phone = contact.get("phone_number")
        if phone and sync.get("action") == "add" and contact.get("full_name"):
            name = clean(contact["full_name"], 256)
            parsed.items.append(ContactChange(phone=clean(phone, 64), name=name))


FIELDS = {
    "messages": _parse_value,
    "smb_message_echoes": _echoes,
    "calls": _calls,
    "user_preferences": _preferences,
    "user_id_update": _user_id_updates,
    "smb_app_state_sync": _state_sync,
}


def _status(status: dict[str, Any]) -> Status | None:
    wamid, state = status.get("id"), status.get("status")
    recipient = status.get("recipient_id") or status.get("recipient_user_id")
    if not wamid or not recipient or state not in STATUSES:
        return None
    errors = status.get("errors")
    return Status(
        wamid=clean(wamid, 256),
        status=str(state),
        timestamp=clean(status.get("timestamp", ""), 32),
        recipient_id=clean(recipient, 64),
        errors=errors if isinstance(errors, list) else None,
        raw=json.dumps(status),
    )


def display_text(kind: str, message: dict[str, Any]) -> str:
    """What a chat list would show for a message of type `kind`."""
    body = _dict(message.get(kind))
    if kind == "text":
        return str(body.get("body", ""))
    if kind in MEDIA_TYPES:
        return _media_text(kind, body)
    if kind == "location":
        place = ", ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        where = f"({body.get('latitude')}, {body.get('longitude')})"
        return f"[location] {place} {where}" if place else f"[location] {where}"
    if kind == "contacts":
        people = [
            _dict(_dict(c).get("name")).get("formatted_name") or "?"
            for c in _list(message.get("contacts"))
        ]
        return "[contact] " + ", ".join(str(p) for p in people)
    if kind == "interactive":
        reply_type = str(body.get("type", ""))
        reply = _dict(body.get(reply_type))
        if reply_type == "nfm_reply":
            return str(reply.get("body") or "[flow reply]")
        return str(reply.get("title") or f"[{reply_type or 'interactive'}]")
    if kind == "button":
        return str(body.get("text") or body.get("payload") or "[button]")
    if kind == "reaction":
        emoji = body.get("emoji")
        return f"reacted {emoji}" if emoji else "removed a reaction"
    if kind == "order":
        items = _list(body.get("product_items"))
        note = f": {body['text']}" if body.get("text") else ""
        return f"[order] {len(items)} item{'s' if len(items) != 1 else ''}{note}"
    if kind == "system":
        return str(body.get("body") or f"[system: {body.get('type', '')}]")
    if kind == "edit":
        edited = _dict(body.get("message"))
        new = display_text(str(edited.get("type", "")), edited)
        return f"[edited] {new}"
    if kind == "revoke":
        return "[deleted a message]"
    if kind in ("unsupported", "unknown"):
        what = body.get("type") or "message"
        titles = [str(_dict(e).get("title")) for e in _list(message.get("errors"))]
        return f"[unsupported {what}]" + (f" {'; '.join(titles)}" if titles else "")
    return f"[{kind}]"


def _media_text(kind: str, body: dict[str, Any]) -> str:
    if body.get("caption"):
        return f"[{kind}] {body['caption']}"
    if kind == "document" and body.get("filename"):
        return f"[document] {body['filename']}"
    if kind == "audio" and body.get("voice"):
        return "[voice message]"
    return f"[{kind}]"
