"""A second backend for tests, written apart from `mock_backend` to prove wasim measures a backend
it did not write. It follows the Express + socket.io server of the design document, with its own
names: plain Starlette routes over dicts in memory, JWT claim `sub`, `chat:*` events, an SSE stream
framed by hand with no event ids, and no ETag, /metrics or plain WebSocket.

    GET  /hooks/whatsapp        Meta's handshake        POST /hooks/whatsapp   signed webhook
    POST /auth/login            {"username"} -> token   GET  /health           {"status": "up"}
    POST /api/chats             {"contactPhone"}        GET  /api/chats        array, newest first
    GET  /api/chats/{id}?limit  chat and its items      GET  /api/events       SSE (?access_token=)
    /socket.io                  auth {"token"}, room u:<sub>; chat:message, chat:update, chat:status

Run by hand: `python tests/foreign_backend.py --port 0` prints `foreign backend at http://...`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import re
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

APP_SECRET = "foreign-app-secret"
VERIFY_TOKEN = "foreign-verify-token"
# 32 bytes or more: PyJWT warns about a shorter HMAC key, and tests turn warnings into errors.
JWT_SECRET = "foreign-jwt-secret-for-tests-only"
TOKEN_SECONDS = 3600
PING_SECONDS = 15.0
CAPTIONED = ("image", "video", "document")

Json = dict[str, Any]


class Unauthorized(Exception):
    """No valid token: every route answers 401 through one exception handler."""


def iso_now() -> str:
    """Like JavaScript's `new Date().toISOString()`: milliseconds and a `Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)


def dicts(items: object) -> list[Json]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def webhook_values(payload: object) -> Iterator[Json]:
    """Each `entry[].changes[].value` of a webhook, skipping whatever is not shaped like one."""
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in dicts(entries):
        for change in dicts(entry.get("changes")):
            if isinstance(change.get("value"), dict):
                yield change["value"]


def message_text(message: Json) -> str:
    kind = str(message.get("type") or "unknown")
    content = message.get(kind)
    content = content if isinstance(content, dict) else {}
    if kind == "text":
        return str(content.get("body", ""))
    if kind in CAPTIONED and content.get("caption"):
        return str(content["caption"])
    return f"[{kind}]"


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


@dataclass
class Chat:
    id: str
    owner: str
    contact_phone: str
    items: list[Json] = field(default_factory=list)
    unread: int = 0
    updated_at: str = field(default_factory=iso_now)
    touched: int = 0  # a tick, so chats updated in the same millisecond still sort

    def summary(self) -> Json:
        last = self.items[-1]["body"] if self.items else None
        return {
            "id": self.id,
            "contactPhone": self.contact_phone,
            "lastMessage": last,
            "unreadCount": self.unread,
        }

    def card(self) -> Json:
        return {**self.summary(), "updatedAt": self.updated_at}


class ForeignBackend:
    """All state lives in these dicts; the route handlers are bound methods."""

    def __init__(self, app_secret: str, verify_token: str, jwt_secret: str) -> None:
        self.app_secret = app_secret.encode()
        self.verify_token = verify_token
        self.jwt_secret = jwt_secret
        self.chats: dict[str, Chat] = {}
        self.chat_of: dict[tuple[str, str], str] = {}  # (owner, phone digits) -> chat id
        self.chats_by_phone: defaultdict[str, list[str]] = defaultdict(list)
        self.chats_by_wamid: defaultdict[str, set[str]] = defaultdict(set)
        self.seen: set[str] = set()
        self.streams: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)
        self.numbers = itertools.count(1)
        self.ticks = itertools.count(1)
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
        self.sio.on("connect", self.on_connect)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/health", self.health),
            Route("/hooks/whatsapp", self.handshake, methods=["GET"]),
            Route("/hooks/whatsapp", self.webhook, methods=["POST"]),
            Route("/auth/login", self.login, methods=["POST"]),
            Route("/api/chats", self.list_chats, methods=["GET"]),
            Route("/api/chats", self.open_chat, methods=["POST"]),
            Route("/api/chats/{chat_id}", self.show_chat, methods=["GET"]),
            Route("/api/events", self.events, methods=["GET"]),
            WebSocketRoute("/{path:path}", self.no_websocket),
        ]

    def user_of(self, token: str | None) -> str:
        try:
            claims = jwt.decode(
                token or "", self.jwt_secret, algorithms=["HS256"], options={"require": ["sub"]}
            )
        except jwt.PyJWTError:
            raise Unauthorized from None
        return str(claims["sub"])

    def caller(self, request: Request, query: bool = False) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = request.query_params.get("access_token", "") if query else ""
        return self.user_of(token.strip())

    async def on_connect(self, sid: str, environ: Json, auth: object) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            user = self.user_of(token if isinstance(token, str) else None)
        except Unauthorized:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized") from None
        await self.sio.enter_room(sid, f"u:{user}")

    async def push(self, user: str, event: str, payload: Json) -> None:
        frame = f"event: {event}\ndata: {json.dumps(payload)}\n\n"
        for queue in self.streams.get(user, ()):
            queue.put_nowait(frame)
        await self.sio.emit(event, payload, to=f"u:{user}")

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "up"})

    async def handshake(self, request: Request) -> Response:
        query = request.query_params
        mode, token = query.get("hub.mode"), query.get("hub.verify_token")
        if mode == "subscribe" and token == self.verify_token:
            return PlainTextResponse(query.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)

    async def webhook(self, request: Request) -> Response:
        raw = await request.body()
        expected = "sha256=" + hmac.new(self.app_secret, raw, hashlib.sha256).hexdigest()
        given = request.headers.get("x-hub-signature-256", "")
        if not hmac.compare_digest(expected.encode(), given.encode("latin-1")):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        try:
            payload = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "malformed JSON"}, status_code=400)
        for value in webhook_values(payload):
            for message in dicts(value.get("messages")):
                await self.inbound(message)
            for status in dicts(value.get("statuses")):
                await self.status(status)
        return JSONResponse({"ok": True})

    async def inbound(self, message: Json) -> None:
        wamid, phone = message.get("id"), message.get("from")
        if not isinstance(wamid, str) or not isinstance(phone, str) or wamid in self.seen:
            return
        self.seen.add(wamid)  # before any await: a concurrent retry of the same id stops here
        text, at = message_text(message), iso_now()
        item = {"whatsappId": wamid, "body": text, "direction": "in", "sentAt": at}
        for chat in [self.chats[chat_id] for chat_id in self.chats_by_phone[digits(phone)]]:
            chat.items.append({**item, "state": "received"})  # a copy per chat: states differ
            chat.unread += 1
            chat.updated_at, chat.touched = at, next(self.ticks)
            self.chats_by_wamid[wamid].add(chat.id)
            msg = {"whatsapp_id": wamid, "text": text, "from": phone, "at": at}
            await self.push(chat.owner, "chat:message", {"chatId": chat.id, "data": {"msg": msg}})
            update = {"chatId": chat.id, "lastMessage": text, "unreadCount": chat.unread}
            await self.push(chat.owner, "chat:update", update)

    async def status(self, status: Json) -> None:
        ref, state = status.get("id"), status.get("status")
        if not isinstance(ref, str) or not isinstance(state, str):
            return
        owners: set[str] = set()
        for chat_id in self.chats_by_wamid.get(ref, ()):
            chat = self.chats[chat_id]
            owners.add(chat.owner)
            for item in chat.items:
                if item["whatsappId"] == ref:
                    item["state"] = state
        for owner in sorted(owners):
            await self.push(owner, "chat:status", {"messageRef": ref, "state": state})

    async def login(self, request: Request) -> Response:
        body = await json_body(request)
        name = body.get("username") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name:
            return JSONResponse({"error": "username is required"}, status_code=422)
        now = int(time.time())
        claims = {"sub": name, "iat": now, "exp": now + TOKEN_SECONDS}
        token = jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        return JSONResponse({"access_token": token, "token_type": "bearer"})

    async def open_chat(self, request: Request) -> Response:
        user = self.caller(request)
        body = await json_body(request)
        phone = body.get("contactPhone") if isinstance(body, dict) else None
        if not isinstance(phone, str) or not digits(phone):
            return JSONResponse({"error": "contactPhone is required"}, status_code=422)
        if (known := self.chat_of.get((user, digits(phone)))) is not None:
            return JSONResponse({"chat": self.chats[known].summary()})
        chat = Chat(f"chat_{next(self.numbers)}", user, phone, touched=next(self.ticks))
        self.chats[chat.id] = chat
        self.chat_of[(user, digits(phone))] = chat.id
        self.chats_by_phone[digits(phone)].append(chat.id)
        return JSONResponse({"chat": chat.summary()}, status_code=201)

    async def list_chats(self, request: Request) -> Response:
        user = self.caller(request)
        mine = [chat for chat in self.chats.values() if chat.owner == user]
        mine.sort(key=lambda chat: chat.touched, reverse=True)
        return JSONResponse([chat.card() for chat in mine])

    async def show_chat(self, request: Request) -> Response:
        user = self.caller(request)
        chat = self.chats.get(request.path_params["chat_id"])
        if chat is None or chat.owner != user:
            return JSONResponse({"error": "chat not found"}, status_code=404)
        items = chat.items
        if (limit := request.query_params.get("limit")) is not None:
            if not limit.isdigit():
                return JSONResponse({"error": "limit must be a whole number"}, status_code=422)
            items = items[max(0, len(items) - int(limit)) :]
        return JSONResponse({"chat": chat.card(), "items": items})

    async def events(self, request: Request) -> Response:
        user = self.caller(request, query=True)
        queue: asyncio.Queue[str] = asyncio.Queue()
        # Subscribed before the headers go out, so a client that has them misses nothing.
        # Starlette runs the background task once the client has gone, even if the body never
        # started; on server shutdown uvicorn cancels the stream after its graceful timeout.
        self.streams[user].add(queue)
        return StreamingResponse(
            sse_frames(queue),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(self.streams[user].discard, queue),
        )

    async def no_websocket(self, websocket: WebSocket) -> None:
        # Starlette would refuse an unknown upgrade with 403; Express answers 404. (uvicorn's
        # sansio protocol then logs a spurious "returned without completing handshake".)
        await websocket.send_denial_response(PlainTextResponse("Not Found", status_code=404))


async def sse_frames(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
    while True:
        try:
            yield await asyncio.wait_for(queue.get(), PING_SECONDS)
        except TimeoutError:
            yield ": ping\n\n"


async def refuse(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": "unauthorized"}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )


def create_foreign_app(
    app_secret: str = APP_SECRET, verify_token: str = VERIFY_TOKEN, jwt_secret: str = JWT_SECRET
) -> socketio.ASGIApp:
    backend = ForeignBackend(app_secret, verify_token, jwt_secret)
    web = Starlette(routes=backend.routes(), exception_handlers={Unauthorized: refuse})
    return socketio.ASGIApp(backend.sio, web)


async def serve(sock: socket.socket) -> None:
    config = uvicorn.Config(create_foreign_app(), log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not running.done():
        await asyncio.sleep(0.01)
    if server.started:
        host, port = sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        print(f"foreign backend at http://{host}:{port}", flush=True)
    await running


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the foreign test backend.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    args = parser.parse_args(argv)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP, or asyncio skips TCP_NODELAY and small answers wait ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))  # bound first, so port 0 is known before serving
    sock.listen(1024)
    asyncio.run(serve(sock))


if __name__ == "__main__":
    main()
