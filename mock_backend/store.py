"""Reading and writing conversations, and the per-user event log every push is replayed from."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from mock_backend.db import conversations, events, insert_ignore, messages, users, utcnow

NEW_MESSAGE = "new_message"
CONVERSATION_UPDATED = "conversation_updated"
MESSAGE_STATUS = "message_status"
CALL = "call"

JSON = dict[str, Any]


@dataclass(frozen=True)
class Pending:
    """An event decided inside a transaction, before it has its event id."""

    user: str
    kind: str
    payload: JSON


@dataclass(frozen=True)
class Event:
    """A stored event: `payload` starts with its per-user `event_id`."""

    user: str
    event_id: int
    kind: str
    payload: JSON


def message_dict(row: Row[Any] | dict[str, Any]) -> JSON:
    m = row._mapping if isinstance(row, Row) else row
    return {
        "id": m["id"],
        "wamid": m["wamid"],
        "conversation_id": m["conversation_id"],
        "direction": m["direction"],
        "from": m["from_phone"],
        "type": m["type"],
        "text": m["text"],
        "timestamp": m["timestamp"],
        "status": m["status"],
        "created_at": m["created_at"],
    }


def conversation_dict(row: Row[Any] | dict[str, Any], last: JSON | None) -> JSON:
    c = row._mapping if isinstance(row, Row) else row
    return {
        "id": c["id"],
        "owner": c["owner"],
        "contact_phone": c["contact_phone"],
        "contact_name": c["contact_name"],
        "unread_count": c["unread_count"],
        "last_message": last,
        "updated_at": c["updated_at"],
    }


def allocate(conn: Connection, pending: list[Pending]) -> list[Event]:
    """Give each pending event the next id of its user, and store it, in this transaction."""
    if not pending:
        return []
    counts = Counter(p.user for p in pending)
    conn.execute(insert_ignore(conn.engine, users), [{"id": u, "last_event_id": 0} for u in counts])
    last: dict[str, int] = {}
    for user, n in sorted(counts.items()):
        top = conn.scalar(
            update(users)
            .where(users.c.id == user)
            .values(last_event_id=users.c.last_event_id + n)
            .returning(users.c.last_event_id)
        )
        last[user] = int(top or 0) - n
    out: list[Event] = []
    for p in pending:
        last[p.user] += 1
        out.append(Event(p.user, last[p.user], p.kind, {"event_id": last[p.user], **p.payload}))
    conn.execute(
        events.insert(),
        [
            {
                "user_id": e.user,
                "event_id": e.event_id,
                "kind": e.kind,
                "payload": json.dumps(e.payload),
            }
            for e in out
        ],
    )
    return out


async def replay(conn: AsyncConnection, user: str, after: int) -> list[Event]:
    """Every event of `user` after `after`, in order."""
    rows = await conn.execute(
        select(events.c.event_id, events.c.kind, events.c.payload)
        .where(events.c.user_id == user, events.c.event_id > after)
        .order_by(events.c.event_id)
    )
    return [Event(user, r.event_id, r.kind, json.loads(r.payload)) for r in rows]


async def last_event_id(conn: AsyncConnection, user: str) -> int:
    """The id of `user`'s latest event (0 before the first)."""
    top = await conn.scalar(select(users.c.last_event_id).where(users.c.id == user))
    return int(top or 0)


async def _last_messages(conn: AsyncConnection, ids: list[int]) -> dict[int, JSON]:
    if not ids:
        return {}
    rows = await conn.execute(select(messages).where(messages.c.id.in_(ids)))
    return {r.id: message_dict(r) for r in rows}


async def list_conversations(conn: AsyncConnection, owner: str) -> list[JSON]:
    rows = (
        await conn.execute(
            select(conversations)
            .where(conversations.c.owner == owner)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
        )
    ).all()
    last = await _last_messages(conn, [r.last_message_id for r in rows if r.last_message_id])
    return [conversation_dict(r, last.get(r.last_message_id)) for r in rows]


async def get_conversation(
    conn: AsyncConnection, owner: str, conversation_id: int, limit: int
) -> JSON | None:
    row = (
        await conn.execute(
            select(conversations).where(
                conversations.c.id == conversation_id, conversations.c.owner == owner
            )
        )
    ).first()
    if row is None:
        return None
    newest = (
        await conn.execute(
            select(messages)
            .where(messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
    ).all()
    listed = [message_dict(m) for m in reversed(newest)]
    last = await _last_messages(conn, [row.last_message_id] if row.last_message_id else [])
    return {
        "conversation": conversation_dict(row, last.get(row.last_message_id)),
        "messages": listed,
    }


async def open_conversation(
    conn: AsyncConnection, owner: str, phone: str, name: str | None
) -> tuple[JSON, bool]:
    """The owner's conversation with `phone`, created if new; True when it was created."""
    now = utcnow()
    created = await conn.execute(
        insert_ignore(conn.engine, conversations).returning(conversations.c.id),
        {
            "owner": owner,
            "contact_phone": phone,
            "contact_name": name,
            "unread_count": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    was_created = created.first() is not None
    row = (
        await conn.execute(
            select(conversations).where(
                conversations.c.owner == owner, conversations.c.contact_phone == phone
            )
        )
    ).one()
    last = await _last_messages(conn, [row.last_message_id] if row.last_message_id else [])
    return conversation_dict(row, last.get(row.last_message_id)), was_created


async def mark_read(
    conn: AsyncConnection, owner: str, conversation_id: int
) -> tuple[JSON | None, list[Pending]]:
    """Zero the unread count; the caller pushes the returned `conversation_updated`."""
    row = (
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.owner == owner)
            .values(unread_count=0, updated_at=utcnow())
            .returning(*conversations.c)
        )
    ).first()
    if row is None:
        return None, []
    last = await _last_messages(conn, [row.last_message_id] if row.last_message_id else [])
    conv = conversation_dict(row, last.get(row.last_message_id))
    return conv, [Pending(owner, CONVERSATION_UPDATED, {"conversation": conv})]
