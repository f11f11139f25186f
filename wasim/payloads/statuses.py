"""Outbound status objects (reference §4) and value-level errors (§3.3)."""

from __future__ import annotations

import random
from typing import Any

from wasim.payloads import ids

JSON = dict[str, Any]

STATUSES = ("sent", "delivered", "read", "failed", "played")
ERROR_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"

FAILED_ERRORS: dict[int, tuple[str, str]] = {
    131049: (
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "In order to maintain a healthy ecosystem engagement, the message failed to be delivered.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131026: ("Message undeliverable", "Unable to deliver message."),
    131050: (
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing "
        "messages on WhatsApp from your business.",
        "The user has stopped marketing messages from this business.",
    ),
}
VALUE_ERRORS: dict[int, tuple[str, str]] = {
    130429: (
        "Rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number in a short period of time",
    ),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number "
        "in a short period of time.",
    ),
}
# (pricing.type, category) pairs seen on real PMP statuses.
PRICING = (
    ("regular", "marketing"),
    ("regular", "utility"),
    ("regular", "authentication"),
    ("free_customer_service", "service"),
    ("free_customer_service", "utility"),
)


def error_object(code: int, table: dict[int, tuple[str, str]]) -> JSON:
    title, details = table.get(code, (f"Error {code}", f"Error {code}."))
    return {
        "code": code,
        "title": title,
        "message": title,  # Meta repeats the title as the message.
        "error_data": {"details": details},
        "href": ERROR_HREF,
    }


def pricing(rng: random.Random, kind: tuple[str, str] | None = None) -> JSON:
    type_, category = kind or rng.choice(PRICING)
    return {
        "billable": type_ == "regular",
        "pricing_model": "PMP",
        "type": type_,
        "category": category,
    }


def conversation(rng: random.Random, status: str, ts: str, origin: str) -> JSON:
    conv: JSON = {"id": ids.hex_id(rng)}
    if status == "sent":  # the expiration appears only on `sent`
        conv["expiration_timestamp"] = str(int(ts) + 24 * 3600)
    conv["origin"] = {"type": origin}
    return conv
