"""Contacts and calls in a webhook batch (reference §5b), inside `apply_batch`'s transaction.

A contact is a phone number with what the webhooks said about it: the business-scoped id its
messages carry, a marketing stop or resume (`user_preferences`), a new id or number (identity
changes), the business app's address-book name (`smb_app_state_sync`). A call event is stored
once per (call id, event), so a retried webhook is not pushed twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from mock_backend.db import calls, contacts, insert_ignore
from mock_backend.parse import Call, ContactChange, Inbound
from mock_backend.store import CALL, JSON, Pending


def learn(conn: Connection, inbound: list[Inbound], now: str) -> None:
    """Note the business-scoped id of senders seen for the first time (one statement)."""
    rows = {m.phone: m.user_id for m in inbound if m.user_id and not m.outbound}
    if rows:
        conn.execute(
            insert_ignore(conn.engine, contacts),
            [{"phone": p, "user_id": u, "updated_at": now} for p, u in rows.items()],
        )


def apply_changes(conn: Connection, changes: list[ContactChange], now: str) -> None:
    """Apply each change in order; one about an id nobody has is acknowledged, not stored."""
    for change in changes:
        phone = change.phone or _phone_of(conn, change.previous_user_id)
        if phone is None:
            continue
        values = {
            name: value
            for name, value in (
                ("user_id", change.user_id),
                ("name", change.name),
                ("marketing", change.marketing),
                ("changed_to", change.changed_to),
            )
            if value is not None
        }
        _upsert(conn, phone, values, now)
        if change.changed_to:  # the person now writes from the new number, with the new id
            moved = {"user_id": change.user_id} if change.user_id else {}
            _upsert(conn, change.changed_to, moved, now)


def _phone_of(conn: Connection, user_id: str | None) -> str | None:
    if not user_id:
        return None
    found = conn.scalar(select(contacts.c.phone).where(contacts.c.user_id == user_id).limit(1))
    return str(found) if found is not None else None


def _upsert(conn: Connection, phone: str, values: dict[str, Any], now: str) -> None:
    conn.execute(insert_ignore(conn.engine, contacts), {"phone": phone, "updated_at": now})
    conn.execute(update(contacts).where(contacts.c.phone == phone).values(**values, updated_at=now))


def new_calls(conn: Connection, items: list[Call], now: str) -> set[tuple[str, str]]:
    """Store the call events not seen before; return their (call id, event)."""
    if not items:
        return set()
    rows = {
        (c.call_id, c.event): {
            "call_id": c.call_id,
            "event": c.event,
            "phone": c.phone,
            "created_at": now,
        }
        for c in items
    }
    result = conn.execute(
        insert_ignore(conn.engine, calls).returning(calls.c.call_id, calls.c.event),
        list(rows.values()),
    )
    return {(r.call_id, r.event) for r in result}


def call_event(owner: str, conversation_id: int, item: Call) -> Pending:
    """The `call` push event of one call event, for one owner of a conversation with it."""
    payload: JSON = {
        "conversation_id": conversation_id,
        "call_id": item.call_id,
        "event": item.event,
        "from": item.phone,
        "direction": item.direction,
        "status": item.status,
        "timestamp": item.timestamp,
    }
    if item.duration is not None:
        payload["duration"] = item.duration
    return Pending(owner, CALL, payload)


async def get_contact(conn: Any, phone: str) -> JSON | None:
    """A contact as `GET …/contacts/{phone}` returns it, or None."""
    row = (await conn.execute(select(contacts).where(contacts.c.phone == phone))).first()
    if row is None:
        return None
    m = row._mapping
    return {
        "phone": m["phone"],
        "user_id": m["user_id"],
        "name": m["name"],
        "marketing": m["marketing"],
        "changed_to": m["changed_to"],
        "updated_at": m["updated_at"],
    }
