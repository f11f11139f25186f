"""The NDJSON records of a listen run (`ready`, `event`, `reconnecting`, …, `summary`)."""

from __future__ import annotations

from typing import Any

from wasim.correlate import Match
from wasim.listen.latency import Source
from wasim.transports.base import Received, StateChange


def one_line(item: Received) -> str:
    """A short human summary of what an event says."""
    data = item.data
    message = data.get("message")
    if item.event == "poll":
        return f"a changed answer from {data.get('url', 'a poll')}"
    if isinstance(message, dict):
        text = str(message.get("text") or message.get("type") or "")
        return f"{message.get('from', '?')}: {text[:60]}"
    conversation = data.get("conversation")
    if isinstance(conversation, dict):
        name = conversation.get("contact_name") or conversation.get("contact_phone")
        return (
            f"chat {conversation.get('id')} with {name}, {conversation.get('unread_count')} unread"
        )
    if "status" in data:
        return f"{data.get('wamid', '?')} is {data['status']}"
    return ", ".join(sorted(data))[:80]


def event_record(
    item: Received, matches: list[Match], latency: float | None, source: Source | None
) -> dict[str, Any]:
    """`latency_ms` is received − scheduled start by the send ledger (`latency_source`
    "ledger"), else, with no ledger, the estimate from the message's whole-second timestamp
    ("timestamp"); `matched` says which sent ids the event carried and how they were found."""
    return {
        "type": "event",
        "at": item.received_at,
        "user": item.user,
        "transport": item.transport,
        "event": item.event,
        "event_id": item.event_id,
        "wamids": list(item.wamids),
        "matched": [{"id": match.key, "how": match.how} for match in matches],
        "latency_ms": round(latency * 1000, 1) if latency is not None else None,
        "latency_source": source,
        "summary": one_line(item),
        "data": item.data,
    }


def state_record(change: StateChange) -> dict[str, Any]:
    return {
        "type": change.state,
        "at": change.at,
        "user": change.user,
        "transport": change.transport,
        "reason": change.reason,
    }
