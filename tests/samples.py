"""Minimal Meta-shaped webhook bodies for tests, written apart from wasim.payloads (test data,
not shipped in the wheel)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

from wasim import defaults

_ids = itertools.count(1)


def wamid() -> str:
    return f"wamid.TEST{next(_ids):012d}="


def text_message(phone: str, body: str = "hello", *, id: str | None = None) -> dict[str, Any]:
    return message(phone, "text", {"body": body}, id=id)


def message(
    phone: str, kind: str, content: Any, *, id: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An inbound message of `kind` whose body object is `content`."""
    return {
        "from": phone,
        "id": id or wamid(),
        "timestamp": "1750000000",
        "type": kind,
        kind: content,
        **extra,
    }


def status(wamid: str, state: str, recipient: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": state,
        "timestamp": "1750000100",
        "recipient_id": recipient,
        **extra,
    }


def envelope(
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    *,
    name: str = "Ana",
) -> dict[str, Any]:
    """One entry, one change, holding whatever lists are given."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": m.get("from")} for m in messages]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    if errors is not None:
        value["errors"] = errors
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def signed(doc: dict[str, Any], secret: str = defaults.APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """Compact bytes and the headers Meta would send with them."""
    body = json.dumps(doc, separators=(",", ":")).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}
