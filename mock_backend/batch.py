"""Storing one batch of webhook items in one transaction: routing, dedup, status order.

The statement count per batch does not grow with the batch, which is what makes group commit
pay off: a few queries store hundreds of webhooks. It is synchronous code, run in one go by
`db.Transactions` (a worker thread on SQLite, `run_sync` on PostgreSQL).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from mock_backend import contacts
from mock_backend.db import conversations, insert_ignore, messages, utcnow
from mock_backend.parse import Call, ContactChange, Inbound, Item, Status
from mock_backend.store import (
    CONVERSATION_UPDATED,
    JSON,
    MESSAGE_STATUS,
    NEW_MESSAGE,
    Pending,
    conversation_dict,
    message_dict,
)

RANK = {"received": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4}


def advances(current: str, new: str) -> bool:
    """Statuses only move forward; `failed` is recorded once and then sticks."""
    if current == "failed":
        return False
    if new == "failed":
        return True
    return RANK.get(new, -1) > RANK.get(current, -1)


def apply_batch(conn: Connection, items: list[Item], default_owner: str) -> list[Pending]:
    """Store `items` and return the events they cause, in arrival order."""
    now = utcnow()
    inbound = [i for i in items if isinstance(i, Inbound)]
    statuses = [i for i in items if isinstance(i, Status)]
    calls = [i for i in items if isinstance(i, Call)]

    by_wamid: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if statuses:
        rows = conn.execute(
            select(messages).where(messages.c.wamid.in_({s.wamid for s in statuses}))
        )
        for r in rows:
            by_wamid[r.wamid].append(dict(r._mapping))

    names: dict[str, str | None] = {m.phone: m.contact_name for m in inbound if m.contact_name}
    phones = {m.phone for m in inbound} | {c.phone for c in calls}
    phones |= {s.recipient_id for s in statuses if s.wamid not in by_wamid}
    routes, convs = _route(conn, phones, names, default_owner, now)
    extra = {r["conversation_id"] for rs in by_wamid.values() for r in rs} - set(convs)
    if extra:
        for c in conn.execute(select(conversations).where(conversations.c.id.in_(extra))):
            convs[c.id] = dict(c._mapping)

    new_rows: dict[tuple[int, str], dict[str, Any]] = {}
    for item in items:
        if isinstance(item, Inbound):
            for cid in routes[item.phone]:
                new_rows.setdefault((cid, item.wamid), _row(cid, item, now))
        elif isinstance(item, Status) and item.wamid not in by_wamid:
            for cid in routes[item.recipient_id]:
                new_rows.setdefault((cid, item.wamid), _row(cid, item, now))
    inserted = _insert(conn, list(new_rows.values()))
    rang = contacts.new_calls(conn, calls, now)

    pending: list[Pending] = []
    unread: dict[int, list[tuple[JSON, bool]]] = defaultdict(list)  # (snapshot, counts as unread)
    status_changes: dict[int, str] = {}
    announced: set[tuple[int, str]] = set()
    for item in items:
        if isinstance(item, Inbound):
            for cid in routes[item.phone]:
                key = (cid, item.wamid)
                if key not in inserted or key in announced:
                    continue
                announced.add(key)
                row = inserted[key]
                by_wamid[item.wamid].append(row)
                owner = convs[cid]["owner"]
                message = message_dict(row)
                conv = conversation_dict(convs[cid], message)
                unread[cid].append((conv, not item.outbound))
                pending.append(
                    Pending(owner, NEW_MESSAGE, {"conversation_id": cid, "message": message})
                )
                pending.append(Pending(owner, CONVERSATION_UPDATED, {"conversation": conv}))
        elif isinstance(item, Call):
            if (item.call_id, item.event) in rang:
                rang.discard((item.call_id, item.event))
                for cid in routes[item.phone]:
                    pending.append(contacts.call_event(convs[cid]["owner"], cid, item))
        elif isinstance(item, Status):
            created = [
                inserted[(cid, item.wamid)]
                for cid in routes.get(item.recipient_id, [])
                if (cid, item.wamid) in inserted and (cid, item.wamid) not in announced
            ]
            for row in created:
                announced.add((row["conversation_id"], item.wamid))
                by_wamid[item.wamid].append(row)
                pending.append(_status_event(convs, row, item))
            if created:
                continue
            for row in by_wamid.get(item.wamid, []):
                if advances(row["status"], item.status):
                    row["status"] = item.status
                    status_changes[row["id"]] = item.status
                    pending.append(_status_event(convs, row, item))

    if status_changes:
        conn.execute(
            update(messages)
            .where(messages.c.id == bindparam("row_id"))
            .values(status=bindparam("new_status")),
            [{"row_id": i, "new_status": s} for i, s in status_changes.items()],
        )
    _bump_unread(conn, unread, now)
    contacts.learn(conn, inbound, now)
    contacts.apply_changes(conn, [i for i in items if isinstance(i, ContactChange)], now)
    return pending


def _row(cid: int, item: Inbound | Status, now: str) -> dict[str, Any]:
    if isinstance(item, Inbound):
        return {
            "conversation_id": cid,
            "wamid": item.wamid,
            "direction": "outbound" if item.outbound else "inbound",
            "from_phone": item.business_phone if item.outbound else item.phone,
            "type": item.type,
            "text": item.text,
            "timestamp": item.timestamp,
            "status": "sent" if item.outbound else "received",
            "raw": item.raw,
            "created_at": now,
        }
    return {
        "conversation_id": cid,
        "wamid": item.wamid,
        "direction": "outbound",
        "from_phone": "",
        "type": "unknown",
        "text": "",
        "timestamp": item.timestamp,
        "status": item.status,
        "raw": item.raw,
        "created_at": now,
    }


def _status_event(convs: dict[int, dict[str, Any]], row: dict[str, Any], item: Status) -> Pending:
    payload: JSON = {
        "conversation_id": row["conversation_id"],
        "wamid": item.wamid,
        "status": item.status,
        "timestamp": item.timestamp,
    }
    if item.errors:
        payload["errors"] = item.errors
    return Pending(convs[row["conversation_id"]]["owner"], MESSAGE_STATUS, payload)


def _route(
    conn: Connection, phones: set[str], names: dict[str, str | None], owner: str, now: str
) -> tuple[dict[str, list[int]], dict[int, dict[str, Any]]]:
    """Every conversation of each phone; a phone nobody has gets one for the default owner."""
    routes: dict[str, list[int]] = defaultdict(list)
    convs: dict[int, dict[str, Any]] = {}
    if not phones:
        return routes, convs

    def load(wanted: set[str]) -> None:
        query = select(conversations).where(conversations.c.contact_phone.in_(wanted))
        for c in conn.execute(query.order_by(conversations.c.id)):
            if c.id not in convs:
                convs[c.id] = dict(c._mapping)
                routes[c.contact_phone].append(c.id)

    load(phones)
    missing = phones - set(routes)
    if missing:
        conn.execute(
            insert_ignore(conn.engine, conversations),
            [
                {
                    "owner": owner,
                    "contact_phone": p,
                    "contact_name": names.get(p),
                    "unread_count": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for p in sorted(missing)
            ],
        )
        load(missing)
    return routes, convs


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Insert-or-ignore; only rows actually inserted come back (and only they are pushed)."""
    if not rows:
        return {}
    result = conn.execute(
        insert_ignore(conn.engine, messages).returning(
            messages.c.id, messages.c.conversation_id, messages.c.wamid
        ),
        rows,
    )
    ids = {(r.conversation_id, r.wamid): r.id for r in result}
    return {
        (row["conversation_id"], row["wamid"]): {
            **row,
            "id": ids[(row["conversation_id"], row["wamid"])],
        }
        for row in rows
        if (row["conversation_id"], row["wamid"]) in ids
    }


def _bump_unread(conn: Connection, unread: dict[int, list[tuple[JSON, bool]]], now: str) -> None:
    """Add each conversation's new inbound messages to its unread count (an echo, sent by the
    business, is the last message but not unread), and fix up the snapshots."""
    if not unread:
        return
    conn.execute(
        update(conversations)
        .where(conversations.c.id == bindparam("conv_id"))
        .values(
            unread_count=conversations.c.unread_count + bindparam("n"),
            last_message_id=bindparam("last_id"),
            updated_at=now,
        ),
        [
            {
                "conv_id": cid,
                "n": sum(counts for _, counts in snaps),
                "last_id": snaps[-1][0]["last_message"]["id"],
            }
            for cid, snaps in unread.items()
        ],
    )
    rows = conn.execute(
        select(conversations.c.id, conversations.c.unread_count).where(
            conversations.c.id.in_(list(unread))
        )
    )
    for cid, total in rows:
        snaps = unread[cid]
        count = total - sum(counts for _, counts in snaps)
        for snap, counts in snaps:
            count += counts
            snap["unread_count"] = count
            snap["updated_at"] = now
