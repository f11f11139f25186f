"""Reading the polling endpoints: does the list take the token, what shape is it, where does the
new message show (list, then detail), does it answer `If-None-Match` with 304, is `/metrics` there.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from wasim.bench.prepare import json_of, request
from wasim.correlate import Matcher, strings
from wasim.probe.models import Check, PollFinding, ProbeOptions
from wasim.probe.push import found_at
from wasim.transports.shapes import (
    conversation_id,
    conversation_list,
    detail_url,
    list_field_of,
    message_list,
    messages_field_of,
)

Json = dict[str, Any]
ID_KEYS = ("id", "_id", "uuid", "conversationId", "conversation_id", "chatId", "chat_id")
_RETRY = 0.2  # how often the list is read again while the message has not shown yet


def list_url(options: ProbeOptions) -> str:
    return options.base + "/" + options.conversations_path.lstrip("/")


async def list_access(http: httpx.AsyncClient, options: ProbeOptions, token: str) -> PollFinding:
    """Whether the conversation list answers the token with a list (before anything is sent)."""
    url = list_url(options)
    response = await request(http, "GET", url, token)
    if response.status_code != 200:
        return PollFinding(
            path=options.conversations_path,
            accepted=False,
            reason=f"{url} answered HTTP {response.status_code}",
            refused=response.status_code in (401, 403),
        )
    body = json_of(response)
    if conversation_list(body) is None:
        return PollFinding(
            path=options.conversations_path,
            accepted=False,
            reason=f"{url} answered no list of conversations",
        )
    return PollFinding(path=options.conversations_path, accepted=True)


async def read_polling(
    http: httpx.AsyncClient,
    options: ProbeOptions,
    token: str,
    matcher: Matcher,
    wamid: str,
    captured: str | int | None,
    phone: str,
) -> PollFinding:
    """Read the list until the message shows (or the timeout), then its ETag and the detail."""
    url = list_url(options)
    deadline = time.monotonic() + options.timeout
    while True:
        response = await request(http, "GET", url, token)
        body = json_of(response)
        conversations = conversation_list(body) if response.status_code == 200 else None
        if conversations is None:
            return await list_access(http, options, token)
        mine = next((c for c in conversations if _holds(matcher, c, wamid)), None)
        hit = found_at(mine, wamid, matcher.markers) if mine is not None else None
        if mine is not None or time.monotonic() > deadline:
            break
        await asyncio.sleep(_RETRY)
    found = mine or _conversation_of(conversations, captured, phone)
    id_field = _id_field(found, captured) if found is not None else "id"
    finding = PollFinding(
        path=options.conversations_path,
        accepted=True,
        shape="array" if isinstance(body, list) else "object",
        list_field=list_field_of(body),
        id_field=id_field,
        conversation_id=conversation_id(found, id_field) if found is not None else captured,
        found=hit[1] if hit is not None else None,
        how=hit[0] if hit is not None else None,
    )
    if etag := response.headers.get("etag"):
        again = await request(http, "GET", url, token, etag=etag)
        update = {"etag": True, "not_modified": again.status_code == 304}
        finding = finding.model_copy(update=update)
    if finding.conversation_id is not None:
        finding = await _read_detail(http, options, token, matcher, wamid, finding)
    return finding


async def _read_detail(
    http: httpx.AsyncClient,
    options: ProbeOptions,
    token: str,
    matcher: Matcher,
    wamid: str,
    finding: PollFinding,
) -> PollFinding:
    assert finding.conversation_id is not None
    url = detail_url(list_url(options), options.detail_path, finding.conversation_id)
    response = await request(http, "GET", url, token)
    update: dict[str, Any] = {"detail_url": url, "detail_status": response.status_code}
    if response.status_code == 200:
        body = json_of(response)
        field = messages_field_of(body)
        update["messages_field"] = field
        for message in message_list(body, field):
            if (hit := found_at(message, wamid, matcher.markers)) is not None:
                update["detail_found"] = f"{field or ''}[].{hit[1]}".lstrip(".")
                break
    return finding.model_copy(update=update)


def _holds(matcher: Matcher, document: Any, wamid: str) -> bool:
    return any(match.key == wamid for match in matcher.find(document))


def _conversation_of(
    conversations: list[Json], captured: str | int | None, phone: str
) -> Json | None:
    """The probe's conversation when the message did not show: by the captured id, or phone."""
    for conversation in conversations:
        if captured is not None and captured in conversation.values():
            return conversation
    return next((c for c in conversations if phone in strings(c)), None)


def _id_field(conversation: Json, captured: str | int | None) -> str:
    """The key of a conversation's id: the one holding the id the setup call gave, else the
    first usual name present."""
    if captured is not None:
        for key, value in conversation.items():
            if value == captured and not isinstance(value, bool):
                return str(key)
    return next((key for key in ID_KEYS if conversation_id(conversation, key) is not None), "id")


async def has_metrics(http: httpx.AsyncClient, options: ProbeOptions) -> bool:
    """Whether the backend serves Prometheus text at its metrics path."""
    url = options.base + "/" + options.metrics_path.lstrip("/")
    try:
        response = await http.get(url)
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "# TYPE" in response.text


def poll_checks(poll: PollFinding, timeout: float) -> list[Check]:
    """The list, its ETag behaviour and the detail, as verdict lines."""
    name = f"list {poll.path}"
    if not poll.accepted:
        return [Check(name=name, verdict="missing", detail=poll.reason or "no list")]
    shape = "a JSON array" if poll.shape == "array" else f"an object, list at {poll.list_field}"
    if poll.found is not None:
        detail = f"{shape}; the message showed at {poll.found} (by {poll.how})"
        checks = [Check(name=name, verdict="ok", detail=f"{detail}; ids at {poll.id_field}")]
    else:
        detail = f"{shape}; the message did not show within {timeout:g}s"
        checks = [Check(name=name, verdict="warning", detail=detail)]
    if poll.not_modified:
        checks.append(Check(name="etag", verdict="ok", detail="If-None-Match answered 304"))
    elif poll.etag:
        detail = "an ETag, but If-None-Match did not answer 304"
        checks.append(Check(name="etag", verdict="warning", detail=detail))
    else:
        detail = "no ETag: If-None-Match saves nothing here"
        checks.append(Check(name="etag", verdict="warning", detail=detail))
    checks.append(_detail_check(poll))
    return checks


def _detail_check(poll: PollFinding) -> Check:
    if poll.detail_url is None:
        return Check(name="detail", verdict="warning", detail="no conversation to open")
    name = f"detail {urlsplit(poll.detail_url).path}"
    if poll.detail_status != 200:
        detail = f"HTTP {poll.detail_status}: give --detail-path"
        return Check(name=name, verdict="missing", detail=detail)
    where = f"messages at {poll.messages_field}" if poll.messages_field else "a JSON array"
    if poll.detail_found is None:
        detail = f"{where}; the message is not among them"
        return Check(name=name, verdict="warning", detail=detail)
    return Check(name=name, verdict="ok", detail=f"{where}; the message at {poll.detail_found}")
