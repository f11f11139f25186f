"""The polling API: conversations with their messages, owner-only, with strong ETags."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from mock_backend import contacts, store
from mock_backend.auth import Refused, authenticate, bearer
from mock_backend.state import backend_of

NOT_FOUND = "conversation not found"
NO_CONTACT = "no webhook has mentioned this contact"


class OpenConversation(BaseModel):
    contact_phone: str = Field(min_length=1, max_length=64, pattern=r"^\+?[A-Za-z0-9.\-]+$")
    contact_name: str | None = Field(None, max_length=256)


def current_user(request: Request) -> str:
    """The user of the request's `Authorization: Bearer` (or `?token=`) JWT; 401 otherwise."""
    token = bearer(request.headers.get("authorization")) or request.query_params.get("token")
    try:
        return authenticate(token, backend_of(request).settings).user
    except Refused as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def tagged(request: Request, data: Any) -> Response:
    """JSON with a strong ETag from its bytes; 304 when the client already holds them."""
    body = json.dumps(data, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    wanted = request.headers.get("if-none-match", "")
    if wanted.strip() == "*" or etag in (t.strip() for t in wanted.split(",")):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


async def list_conversations(request: Request, user: str = Depends(current_user)) -> Response:
    """The user's conversations, newest first, each with its last message and unread count."""
    async with backend_of(request).engine.connect() as conn:
        found = await store.list_conversations(conn, user)
    return tagged(request, {"conversations": found})


async def get_conversation(
    request: Request,
    conversation_id: int = Path(ge=1),
    limit: int = Query(50, ge=1, le=1000),
    user: str = Depends(current_user),
) -> Response:
    """One conversation with its newest `limit` messages, oldest first; 404 unless yours."""
    async with backend_of(request).engine.connect() as conn:
        found = await store.get_conversation(conn, user, conversation_id, limit)
    if found is None:
        raise HTTPException(404, NOT_FOUND)
    return tagged(request, found)


async def open_conversation(
    request: Request, body: OpenConversation, user: str = Depends(current_user)
) -> Response:
    """Open (or return) the user's conversation with a contact phone: 201 if new, else 200."""
    phone = body.contact_phone.removeprefix("+")

    async def job(conn: AsyncConnection) -> tuple[Any, list[store.Pending]]:
        return await store.open_conversation(conn, user, phone, body.contact_name), []

    conversation, created = await backend_of(request).writer.run(job)
    return JSONResponse(conversation, status_code=201 if created else 200)


async def mark_read(
    request: Request, conversation_id: int = Path(ge=1), user: str = Depends(current_user)
) -> Response:
    """Zero the unread count and push `conversation_updated` to the owner's clients."""

    async def job(conn: AsyncConnection) -> tuple[Any, list[store.Pending]]:
        return await store.mark_read(conn, user, conversation_id)

    conversation = await backend_of(request).writer.run(job)
    if conversation is None:
        raise HTTPException(404, NOT_FOUND)
    return JSONResponse(conversation)


async def get_contact(
    request: Request,
    phone: str = Path(min_length=1, max_length=64),
    user: str = Depends(current_user),
) -> Response:
    """What the webhooks said about a contact: business-scoped id, marketing stop or resume,
    address-book name, a new number; 404 when none mentioned it."""
    async with backend_of(request).engine.connect() as conn:
        found = await contacts.get_contact(conn, phone.removeprefix("+"))
    if found is None:
        raise HTTPException(404, NO_CONTACT)
    return tagged(request, found)
