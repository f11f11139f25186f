"""Meta's webhook payload → the inbound messages and statuses it carries.

Every entry, change, message and status is visited (Meta batches). Each message becomes
(type, display text, raw object); shapes we do not handle are counted, never fatal.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("mock_backend.webhook")

MEDIA_TYPES = ("image", "video", "document", "sticker", "audio")
STATUSES = ("sent", "delivered", "read", "played", "failed")


@dataclass(frozen=True)
class Inbound:
    """A message a contact sent to the business."""

    wamid: str
    phone: str
    contact_name: str | None
    type: str
    text: str
    timestamp: str
    raw: str


@dataclass(frozen=True)
class Status:
    """A lifecycle update of a message the business sent."""

    wamid: str
    status: str
    timestamp: str
    recipient_id: str
    errors: list[Any] | None
    raw: str


Item = Inbound | Status


@dataclass
class Parsed:
    items: list[Item] = field(default_factory=list)
    errors: int = 0
    unhandled: int = 0


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
        parsed.unhandled += 1
    for entry in _list(doc.get("entry")):
        for change in _list(_dict(entry).get("changes")):
            value = _dict(_dict(change).get("value"))
            _parse_value(value, parsed)
    return parsed


def _parse_value(value: dict[str, Any], parsed: Parsed) -> None:
    names = {
        clean(_dict(c).get("wa_id"), 64): _dict(_dict(c).get("profile")).get("name")
        for c in _list(value.get("contacts"))
    }
    for message in _list(value.get("messages")):
        item = _inbound(_dict(message), names)
        if item is None:
            parsed.unhandled += 1
            log.info("message without id or sender not handled")
        else:
            parsed.items.append(item)
    for status in _list(value.get("statuses")):
        update = _status(_dict(status))
        if update is None:
            parsed.unhandled += 1
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
        parsed.unhandled += 1
        log.info("change value with keys %s not handled", sorted(value)[:10])


def _inbound(message: dict[str, Any], names: dict[str, Any]) -> Inbound | None:
    wamid = message.get("id")
    sender = message.get("from") or message.get("from_user_id")
    if not wamid or not sender:
        return None
    phone = clean(sender, 64)
    name = names.get(phone)
    kind = clean(message.get("type") or "unknown", 64)
    return Inbound(
        wamid=clean(wamid, 256),
        phone=phone,
        contact_name=clean(name, 256) if isinstance(name, str) else None,
        type=kind,
        text=clean(display_text(kind, message)),
        timestamp=clean(message.get("timestamp", ""), 32),
        raw=json.dumps(message),
    )


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
