"""The webhook: Meta's GET handshake and the signed POST, checked before anything is parsed."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from fastapi import Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mock_backend.parse import parse_webhook
from mock_backend.state import Backend, backend_of
from wasim.connections import timed_out

log = logging.getLogger("mock_backend.webhook")
SIGNATURE_HEADER = "x-hub-signature-256"
OK = {"status": "ok"}
OK_BODY = b'{"status":"ok"}'  # as JSONResponse renders OK
STATUSES = (200, 400, 401, 408, 413, 500, 503)
JSON_TYPE = (b"content-type", b"application/json")
NOSNIFF = (b"x-content-type-options", b"nosniff")


async def verify_webhook(
    request: Request,
    mode: str = Query("", alias="hub.mode"),
    verify_token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> Response:
    """Meta's subscription handshake: echo the challenge when the verify token matches."""
    expected = backend_of(request).settings.verify_token
    if mode == "subscribe" and hmac.compare_digest(verify_token.encode(), expected.encode()):
        return PlainTextResponse(challenge)
    return PlainTextResponse("verification failed", status_code=403)


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def signature_ok(body: bytes, header: str | None, secret: str) -> bool:
    """`sha256=<hex HMAC of the raw bytes>`, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header[7:].strip().lower().encode(), expected.encode())


class TooLarge(Exception):
    pass


async def receive_webhook(request: Request) -> Response:
    """A signed webhook: 401 bad signature, 413 oversize, 400 not a JSON object, else 200."""
    backend = backend_of(request)
    limit = backend.settings.max_body_bytes
    try:
        _check_length(request.headers.get("content-length"), limit)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            _check_length(len(body), limit)
    except TooLarge:
        backend.metrics.webhooks.labels("too_large").inc()
        return _error(413, f"body over {limit} bytes")
    status, detail = await take_webhook(backend, bytes(body), request.headers.get(SIGNATURE_HEADER))
    return _error(status, detail) if detail else JSONResponse(OK)


def _check_length(length: str | int | None, limit: int) -> None:
    if isinstance(length, str):
        length = int(length) if length.isdigit() else None
    if length is not None and length > limit:
        raise TooLarge


async def take_webhook(backend: Backend, raw: bytes, signature: str | None) -> tuple[int, str]:
    """Check, parse, store and push one webhook body: (status, error detail or "")."""
    outcome = backend.metrics.webhooks
    if not signature_ok(raw, signature, backend.settings.app_secret):
        outcome.labels("bad_signature").inc()
        return 401, "missing or bad X-Hub-Signature-256"
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        outcome.labels("malformed").inc()
        return 400, "body is not a JSON object"
    parsed = parse_webhook(doc)
    for name, count in parsed.fields.items():
        backend.metrics.webhook_updates.labels(name).inc(count)
    if parsed.errors:
        backend.metrics.webhook_errors.inc(parsed.errors)
    if parsed.items:
        try:
            await backend.writer.store(parsed.items)
        except Exception:
            # Not 200: Meta will deliver it again, so nothing is lost.
            outcome.labels("storage_failed").inc()
            return 503, "could not store the webhook; retry"
    known = parsed.fields or parsed.errors
    stored = "stored" if parsed.items else "acknowledged" if known else "ignored"
    outcome.labels(stored).inc()
    return 200, ""


class WebhookFastPath:
    """`POST <webhook>` straight on ASGI, ahead of FastAPI's middleware and routing.

    It is the hot path (thousands a second) and needs none of that stack: same checks and
    answers as `receive_webhook`, which stays routed for OpenAPI and for cross-origin requests
    (CORS headers are FastAPI's job). Everything else goes to `app`.
    """

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend
        self.path = backend.settings.webhook_path
        self.limit = backend.settings.max_body_bytes
        requests = backend.metrics.requests
        self.counted = {s: requests.labels(self.path, "POST", str(s)) for s in STATUSES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        length = signature = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value.decode("latin-1")
            elif name == b"x-hub-signature-256":
                signature = value.decode("latin-1")
            elif name == b"origin":
                await self.app(scope, receive, send)
                return
        status = 500
        try:
            status, detail = await self._answer(receive, length, signature)
            if status == 400 and timed_out(scope):
                status = 408  # the deadline answered it (wasim.connections)
            body = _detail(detail) if detail else OK_BODY
            headers = [(b"content-length", str(len(body)).encode()), JSON_TYPE, NOSNIFF]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.counted[status].inc()

    async def _answer(
        self, receive: Receive, length: str | None, signature: str | None
    ) -> tuple[int, str]:
        try:
            _check_length(length, self.limit)
            message = await receive()
            raw = message.get("body", b"")
            if message.get("more_body", False):
                body = bytearray(raw)
                while message.get("more_body", False):
                    message = await receive()
                    body += message.get("body", b"")
                    _check_length(len(body), self.limit)
                raw = bytes(body)
            _check_length(len(raw), self.limit)
        except TooLarge:
            self.backend.metrics.webhooks.labels("too_large").inc()
            return 413, f"body over {self.limit} bytes"
        if message["type"] == "http.disconnect":
            return 400, "client disconnected"
        return await take_webhook(self.backend, raw, signature)


def _detail(detail: str) -> bytes:
    return json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":")).encode()
